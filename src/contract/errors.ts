/**
 * Every error the API answers has this shape; `code` is one of ERROR_CODES (clients switch on
 * it), `message` a sentence for people, `details` extra data some codes carry (named below).
 * (No zod here: the web app imports this file and stays small.)
 */
export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

/** Reads an error body, or null when `value` is not one. */
export function asErrorBody(value: unknown): ErrorBody | null {
  if (typeof value !== "object" || value === null) return null;
  const e = (value as { error?: unknown }).error;
  if (typeof e !== "object" || e === null) return null;
  const { code, message } = e as { code?: unknown; message?: unknown };
  return typeof code === "string" && typeof message === "string" ? (value as ErrorBody) : null;
}

/** The error codes, with the status each comes with. */
export const ERROR_CODES = {
  // 400
  bad_request: 400,
  invalid_request: 400, // details.issues: [{path, message}]
  invalid_json: 400,
  invalid_file_name: 400, // details.index
  invalid_part: 400,
  invalid_content_length: 400,
  parts_required: 400,
  body_too_short: 400,
  upload_interrupted: 400,
  filename_required: 400,
  push_endpoint_not_allowed: 400,
  // 401, 403
  unauthorized: 401,
  forbidden: 403,
  invalid_link: 403,
  link_revoked: 403, // v1.2: minted for a token generation since rotated, or for a deleted terminal
  recipient_refused: 403, // details.refused: [terminalId…]
  // 404, 405
  not_found: 404,
  terminal_not_found: 404, // details.missing: [terminalId…] when sending
  transfer_not_found: 404,
  file_not_found: 404,
  no_package: 404, // a message without files

  method_not_allowed: 405,
  // 409, 410
  not_uploading: 409,
  file_complete: 409,
  upload_conflict: 409,
  not_ready: 409,
  transfer_failed: 409,
  list_full: 409, // details.limit: MAX_BLOCKED
  transfer_expired: 410,
  transfer_cancelled: 410,
  download_limit_reached: 410,
  link_expired: 410,
  // 411–429
  length_required: 411,
  body_too_large: 413,
  names_too_long: 413,
  package_too_large: 413,
  // limits (v1.1): details.limit names the [vars] value, details.max its value
  file_too_large: 413, // details.index
  transfer_too_large: 413,
  too_many_files: 413,
  inbox_full: 413, // details.recipients: [terminalId…]
  unsupported_media_type: 415,
  range_not_satisfiable: 416,
  idempotency_key_reused: 422, // v1.2: an Idempotency-Key this sender used (within 24 h) with another request
  upgrade_required: 426,
  rate_limited: 429, // with Retry-After; details.limit, details.max, details.retryAfter
  // 5xx
  internal_error: 500,
  push_not_configured: 503,
  rotation_unavailable: 503, // the old token's sockets could not be closed: nothing changed, try again
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export const isErrorCode = (code: string): code is ErrorCode => Object.hasOwn(ERROR_CODES, code);
