import type { ContentfulStatusCode } from "hono/utils/http-status";

/**
 * The one error type of the API. Thrown anywhere; turned into the contract's JSON shape
 * `{"error": {"code", "message"}}` in one place (app.onError).
 */
export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
    readonly details?: unknown,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export const badRequest = (code: string, message: string, details?: unknown) =>
  new ApiError(400, code, message, {}, details);
export const unauthorized = (message = "A valid bearer token is required.") =>
  new ApiError(401, "unauthorized", message, { "WWW-Authenticate": 'Bearer realm="pushdrop"' });
export const forbidden = (message: string, code = "forbidden") => new ApiError(403, code, message);
export const notFound = (code: string, message: string) => new ApiError(404, code, message);
export const conflict = (code: string, message: string) => new ApiError(409, code, message);
export const gone = (code: string, message: string) => new ApiError(410, code, message);
export const tooLarge = (code: string, message: string) => new ApiError(413, code, message);

export function errorBody(code: string, message: string, details?: unknown) {
  return { error: details === undefined ? { code, message } : { code, message, details } };
}
