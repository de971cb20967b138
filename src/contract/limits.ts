/**
 * The limits a client must know to build valid requests: the same numbers the server checks.
 * Sizes are bytes, durations seconds.
 */

const MiB = 1024 * 1024;

/**
 * Upload part size. A file up to this size goes up in one PUT; a larger one in parts of
 * exactly its part size (the last may be shorter), each one R2 object of its own. 16 MiB lets
 * a phone on a poor connection resume without redoing much. (A large file gets larger parts:
 * LARGE_PART_SIZE in src/config.ts.)
 * (Each File carries its `partSize`: clients use that, never a constant.)
 */
export const PART_SIZE = 16 * MiB;
/** Parts per file (as R2 multipart uploads allow: clients written for them keep working). */
export const MAX_PARTS = 10_000;

export const MAX_RECIPIENTS = 100;
/** Files per transfer by default (the deployment's LIMIT_FILES_PER_TRANSFER: past it, 413 too_many_files). */
export const MAX_FILES = 1000;
/** Files a request may list at all, whatever a deployment allows (past it, 400). */
export const MAX_FILES_CEILING = 10_000;
/** A message, with or without files (contract v1.1: up to 10,000 characters). */
export const MAX_MESSAGE_LENGTH = 10_000;
export const MAX_TERMINAL_NAME = 64;
/**
 * A terminal keeps its newest MAX_CONTACTS contacts (added, or sent to: the oldest give way)
 * and blocks at most MAX_BLOCKED senders (one more is refused: nobody is unblocked silently).
 */
export const MAX_CONTACTS = 1000;
export const MAX_BLOCKED = 1000;

export const DEFAULT_EXPIRES_IN = 24 * 3600;
export const MIN_EXPIRES_IN = 60;
export const MAX_EXPIRES_IN = 7 * 24 * 3600;

/** Clients ping the live channel this often; a socket silent for 90 s counts as gone. */
export const PING_INTERVAL_MS = 30_000;

/**
 * v1.2: the optional header of `POST /v1/transfers` with a key the client chose for one send
 * (1–64 of A-Z a-z 0-9 _ -): the same sender and key within 24 hours get the same transfer
 * (201, then 200), never another, so a retry after a lost answer cannot send twice.
 */
export const IDEMPOTENCY_HEADER = "Idempotency-Key";
