import { ApiError } from "../errors";
import type { RecipientCheck } from "../store/terminals";
import { inboxesFull, type InboxQuota } from "../store/quotas";
import { nthRecentTransferAt } from "../store/transfers";
import { GiB } from "../config";
import { limitsOf, type LimitName } from "./config";
import { HOUR, rateLimited } from "./rate";

/**
 * Quotas checked when a transfer is created, before anything is recorded, and (the inbox) when
 * each part arrives. Sizes at creation are the declared ones: the upload then refuses any byte
 * past a file's declared size as it streams, so a transfer never holds more than it declared.
 */

const tooLarge = (code: string, limit: LimitName, max: number, message: string, extra: Record<string, unknown> = {}) =>
  new ApiError(413, code, message, {}, { limit, max, ...extra });

/** The transfer's own shape: how many files, how large each and all together. */
export function assertTransferSize(env: Env, files: readonly { size: number }[]): void {
  const l = limitsOf(env);
  if (files.length > l.LIMIT_FILES_PER_TRANSFER) {
    throw tooLarge("too_many_files", "LIMIT_FILES_PER_TRANSFER", l.LIMIT_FILES_PER_TRANSFER, `A transfer holds at most ${l.LIMIT_FILES_PER_TRANSFER} files; this one has ${files.length}.`);
  }
  const big = files.findIndex((f) => f.size > l.LIMIT_FILE_BYTES);
  if (big >= 0) {
    throw tooLarge("file_too_large", "LIMIT_FILE_BYTES", l.LIMIT_FILE_BYTES, `File ${big} is ${files[big]!.size} bytes; a file may have at most ${l.LIMIT_FILE_BYTES}.`, { index: big });
  }
  const total = files.reduce((s, f) => s + f.size, 0);
  if (total > l.LIMIT_TRANSFER_BYTES) {
    throw tooLarge("transfer_too_large", "LIMIT_TRANSFER_BYTES", l.LIMIT_TRANSFER_BYTES, `The files add up to ${total} bytes; a transfer may have at most ${l.LIMIT_TRANSFER_BYTES}.`);
  }
}

/** How many transfers the sender created in the last hour: at most LIMIT_TRANSFERS_PER_SENDER_HOUR (429 with Retry-After). */
export async function assertTransferRate(env: Env, senderId: string, now: number): Promise<void> {
  const max = limitsOf(env).LIMIT_TRANSFERS_PER_SENDER_HOUR;
  const nth = await nthRecentTransferAt(env.DB, senderId, now - HOUR, max);
  if (nth !== null) throw rateLimited("LIMIT_TRANSFERS_PER_SENDER_HOUR", max, nth + HOUR - now);
}

// ---- what waits for a recipient ------------------------------------------------------------

/**
 * A recipient's quota (LIMIT_PENDING_BYTES_PER_RECIPIENT) is used only by bytes really there:
 * parts received in transfers to it that it has not downloaded and that have not ended. So a
 * declaration reserves nothing, and a part that would overfill the inbox is refused (413) and
 * can be sent again later. What a sender may declare for one recipient is its share
 * (LIMIT_PENDING_BYTES_PER_SENDER), counted over its own transfers only.
 *
 * Another party's bytes are never compared exactly: a recipient's total counts in steps
 * (rounded up), so that whether a transfer or a part is accepted says nothing finer than a step
 * about what others have sent. The step is 1 GiB, or a 50th of the limit when the limit is under
 * 50 GiB (so that a small limit still means something).
 */
export function quotaStep(limit: number): number {
  return Math.max(1, Math.min(GiB, Math.floor(limit / 50)));
}

/** A recipient's received bytes as the quota sees them: rounded up to a whole step. */
export function roundedReceived(received: number, limit: number): number {
  const step = quotaStep(limit);
  return Math.ceil(received / step) * step;
}

/** Whether `size` more bytes fit an inbox that has `received` bytes: decided on the rounded total only. */
export function fitsInbox(received: number, size: number, limit: number): boolean {
  return size === 0 || roundedReceived(received, limit) + size <= limit;
}

/** Whether a new transfer of `size` bytes fits the sender's share of one recipient (its own transfers there declared `fromSender`). */
export function fitsShare(fromSender: number, size: number, limit: number): boolean {
  return size === 0 || fromSender + size <= limit;
}

const inboxFull = (limit: LimitName, max: number, full: string[], message: string) =>
  tooLarge("inbox_full", limit, max, message, { recipients: full });

/**
 * A new transfer of `size` declared bytes, for each recipient: the sender's own share first,
 * then the room in the inbox (rounded). A message without files always fits. Refusals name the
 * limit and the recipients, never anyone's bytes.
 */
export function assertInboxRoom(env: Env, recipients: readonly RecipientCheck[], size: number): void {
  if (size === 0) return; // a message without files takes no room
  const l = limitsOf(env);
  const overShare = recipients.filter((r) => !fitsShare(r.fromSender, size, l.LIMIT_PENDING_BYTES_PER_SENDER)).map((r) => r.id);
  if (overShare.length > 0) {
    throw inboxFull(
      "LIMIT_PENDING_BYTES_PER_SENDER",
      l.LIMIT_PENDING_BYTES_PER_SENDER,
      overShare,
      `This terminal may have at most ${l.LIMIT_PENDING_BYTES_PER_SENDER} bytes waiting for ${overShare.join(", ")} (its transfers there not yet downloaded, plus this one); try again once they have fetched them.`,
    );
  }
  const max = l.LIMIT_PENDING_BYTES_PER_RECIPIENT;
  const full = recipients.filter((r) => !fitsInbox(r.received, size, max)).map((r) => r.id);
  if (full.length > 0) {
    throw inboxFull(
      "LIMIT_PENDING_BYTES_PER_RECIPIENT",
      max,
      full,
      `${full.join(", ")} has too much waiting to take ${size} bytes more (at most ${max} bytes received and not yet downloaded); try again once they have fetched them.`,
    );
  }
}

/** The inbox limit in force and its step, for the check made again when a part is recorded. */
export function inboxQuota(env: Env): InboxQuota {
  const max = limitsOf(env).LIMIT_PENDING_BYTES_PER_RECIPIENT;
  return { max, step: quotaStep(max) };
}

/** The 413 for a part that does not fit the inboxes of `full` (recipients' ids). */
export function partInboxFull(env: Env, full: readonly string[]): ApiError {
  const max = limitsOf(env).LIMIT_PENDING_BYTES_PER_RECIPIENT;
  return inboxFull(
    "LIMIT_PENDING_BYTES_PER_RECIPIENT",
    max,
    [...full],
    `${full.join(", ")} has too much waiting to take this part now (at most ${max} bytes received and not yet downloaded). Nothing was kept: send the part again once they have fetched what waits.`,
  );
}

/**
 * A part of `size` bytes about to be uploaded: it must fit every recipient's inbox (the bytes
 * received for it, this part's earlier copy left out, rounded). Refused: 413, nothing is
 * stored, and the same part may be sent again once there is room. (Checked before the body is
 * read; recordPart checks again, in the transaction that records the part.)
 */
export async function assertPartFits(env: Env, transferId: string, idx: number, part: number, size: number, now: number): Promise<void> {
  if (size === 0) return;
  const full = await inboxesFull(env.DB, transferId, idx, part, size, now, inboxQuota(env));
  if (full.length > 0) throw partInboxFull(env, full);
}
