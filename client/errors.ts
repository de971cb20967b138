import { asErrorBody, type ErrorCode } from "../src/contract/errors";

/** The server answered with the contract's error shape (or something that stands in for it). */
export class ApiError extends Error {
  override readonly name = "ApiError";
  constructor(
    readonly status: number,
    /** one of the contract's ERROR_CODES, or another string from a newer server */
    readonly code: ErrorCode | (string & {}),
    message: string,
    readonly details?: unknown,
    /** seconds, from Retry-After (429, 503) */
    readonly retryAfter?: number,
  ) {
    super(message);
  }

  /** Whether sending the same request again later may succeed (rate limits, server faults). */
  get retryable(): boolean {
    return this.status === 429 || this.status >= 500 || this.code === "upload_conflict";
  }

  static async from(res: Response): Promise<ApiError> {
    const retryAfter = parseRetryAfter(res.headers.get("retry-after"));
    const text = await res.text().catch(() => "");
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const body = asErrorBody(parsed);
    if (body) {
      const e = body.error;
      return new ApiError(res.status, e.code, e.message, e.details, retryAfter);
    }
    const code = res.status === 404 ? "not_found" : res.status >= 500 ? "internal_error" : "bad_request";
    return new ApiError(res.status, code, `The server answered ${res.status}${text ? `: ${text.slice(0, 200)}` : ""}`, undefined, retryAfter);
  }
}

/** The server could not be reached, or the connection broke before an answer came. */
export class NetworkError extends Error {
  override readonly name = "NetworkError";
  constructor(message: string, override readonly cause?: unknown) {
    super(message);
  }
}

/**
 * Whether sending the same request again may succeed: it never got an answer, or the server
 * said to try later (ApiError.retryable). Uploads, downloads and the web app's sends decide so.
 */
export const isTransient = (e: unknown): boolean => e instanceof NetworkError || (e instanceof ApiError && e.retryable);

/** How long to wait before trying again: what the server asked for (Retry-After), else `fallbackMs`. */
export const retryDelayMs = (e: unknown, fallbackMs: number): number =>
  e instanceof ApiError && e.retryAfter !== undefined ? e.retryAfter * 1000 : fallbackMs;

/**
 * Why a request never got an answer, in a few words: Node's fetch says only "fetch failed"
 * and keeps the reason (ECONNREFUSED, ENOTFOUND, a TLS error…) in `cause`.
 */
export function networkReason(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const cause = e.cause as { code?: unknown; message?: unknown } | undefined;
  if (e.message === "fetch failed" && cause) {
    if (typeof cause.code === "string") return cause.code;
    if (typeof cause.message === "string") return cause.message;
  }
  return e.message;
}

function parseRetryAfter(v: string | null): number | undefined {
  if (!v) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim());
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

/**
 * A sentence for people: the server's message, which names the reason ("No terminal has the id
 * 123 456 780.", "This transfer has expired."), or what went wrong on the way.
 */
export function describeError(e: unknown): string {
  if (e instanceof ApiError) {
    const wait = e.retryAfter !== undefined ? ` Try again in ${e.retryAfter} s.` : "";
    return `${e.message}${wait}`;
  }
  if (e instanceof NetworkError) return e.message;
  if (e instanceof Error && e.name === "AbortError") return "Stopped.";
  return e instanceof Error ? e.message : String(e);
}
