/**
 * Limits and sizes of the service, in one place. Sizes are bytes, durations seconds. Those a
 * client must know too live in the contract (src/contract/limits.ts) and are re-exported.
 */

export {
  DEFAULT_EXPIRES_IN,
  MAX_EXPIRES_IN,
  MAX_FILES,
  MAX_MESSAGE_LENGTH,
  MAX_PARTS,
  MAX_RECIPIENTS,
  MAX_TERMINAL_NAME,
  MIN_EXPIRES_IN,
  PART_SIZE,
} from "./contract";

const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

/**
 * The part size of a file over 3 × LARGE_PART_SIZE (192 MiB; src/receive/parts.ts
 * partSizeFor): a quarter as many requests, R2 objects and subrequests per GiB (each part costs
 * a request's fixed work to upload and an R2 read to serve), while such a file still has at
 * least four parts to send three at a time. Still below the 100 MB request-body limit.
 */
export const LARGE_PART_SIZE = 64 * MiB;

/** A transfer of at most this many bytes is packaged inside the request of its last upload, not through the queue. */
export const INLINE_PACKAGE_BYTES = 1 * MiB;
/** …and of at most this many files (one R2 read each: a request's subrequests are counted). */
export const INLINE_PACKAGE_FILES = 32;

/** Longest safe file name, in UTF-8 bytes (ZIP and most file systems: 255 per segment). */
export const MAX_NAME_BYTES = 255;
export const MAX_PATH_BYTES = 1024;
/**
 * All of a transfer's file names together, in UTF-8 bytes. A Transfer is sent whole in a
 * `transfer.ready` message: this keeps it within a WebSocket message (1 MiB) and a Durable
 * Object row (2 MB) even with 1000 files (about 128 bytes of path per file on average).
 */
export const MAX_NAMES_BYTES = 128 * 1024;

/** How long a sender's `Idempotency-Key` keeps answering with the transfer it created (POST /v1/transfers). */
export const IDEMPOTENCY_MS = 24 * 3600 * 1000;

/** Messages with no transfer expiry (receipts, ends) are kept unacknowledged this long. */
export const MESSAGE_TTL_MS = 30 * 24 * 3600 * 1000;

/**
 * `maxDownloads` counts starts (a response from byte 0 of the package or of a file, by a
 * recipient). Once they are used up, the recipient of a start may still finish it (with
 * `Range`) for this long after it; nobody else downloads anything more (src/lifecycle.ts).
 */
export const FINISH_MS = 60 * 60 * 1000;
/** Push subscriptions per terminal (a phone, a laptop, …); the oldest gives way. */
export const MAX_SUBSCRIPTIONS = 10;
/** Live sockets per terminal (tabs, devices sharing a token); a new one closes the one heard from longest ago. */
export const MAX_SOCKETS = 20;

/**
 * Largest package (files, headers, directory and manifest: see packageOverhead in
 * src/package/zip.ts): 156.25 GiB, 10,000 × 16 MiB (a file this large goes up in 2,500 parts
 * of 64 MiB, and a download reads each one: well within a request's subrequests). Past 4 GiB
 * the package is ZIP64. It is never one R2 object (which would stop at 5 GiB): it is put
 * together from the uploaded parts when downloaded.
 */
export const MAX_PACKAGE_BYTES = 10_000 * 16 * MiB;

/** Largest body `PUT /v1/send/...` takes in one request (R2's single-put limit is 5 GiB). */
export const MAX_SEND_BYTES = 5 * 1024 * MiB - 1;


/** Acknowledged messages are kept this long so that a late duplicate is not re-sent. */
export const ACKED_RETENTION_MS = 8 * 24 * 3600 * 1000;
