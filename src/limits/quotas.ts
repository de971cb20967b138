import { ApiError } from "../errors";
import type { RecipientCheck } from "../store/terminals";
import { nthRecentTransferAt } from "../store/transfers";
import { limitsOf, type LimitName } from "./config";
import { HOUR, rateLimited } from "./rate";

/**
 * Quotas checked when a transfer is created, before anything is recorded. Sizes are the
 * declared ones: the upload then refuses any byte past a file's declared size as it streams
 * (src/receive/counting.ts), so a transfer never holds more than it declared.
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

/** What waits for each recipient, plus this transfer: at most LIMIT_PENDING_BYTES_PER_RECIPIENT each. */
export function assertInboxRoom(env: Env, recipients: readonly RecipientCheck[], size: number): void {
  const max = limitsOf(env).LIMIT_PENDING_BYTES_PER_RECIPIENT;
  if (size === 0) return; // a message without files takes no room
  const full = recipients.filter((r) => r.pending + size > max).map((r) => r.id);
  if (full.length > 0) {
    throw tooLarge(
      "inbox_full",
      "LIMIT_PENDING_BYTES_PER_RECIPIENT",
      max,
      `${full.join(", ")} already has too much waiting (at most ${max} bytes of transfers not yet downloaded); try again once they have fetched them.`,
      { recipients: full },
    );
  }
}
