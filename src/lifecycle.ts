import type { TransferStatus } from "./contract";
import { FINISH_MS } from "./config";
import type { RecipientRow, TransferRecord, TransferRow } from "./store/transfers";

/** A transfer's life as everyone sees it: its effective status, and who takes part in it. */

const END_STATES: readonly TransferStatus[] = ["delivered", "expired", "cancelled", "failed"];

/** The status a client sees: a transfer past its expiry is expired even before the sweep ran. */
export function effectiveStatus(t: TransferRow, now: number): TransferStatus {
  if (t.expires_at <= now && !END_STATES.includes(t.status)) return "expired";
  return t.status;
}

/** Ended without being delivered (cancelled, expired, failed): its files are gone or going. */
export function hasFailedToDeliver(t: TransferRow, now: number): boolean {
  const s = effectiveStatus(t, now);
  return s === "cancelled" || s === "expired" || s === "failed";
}

export function isDownloadable(t: TransferRow, now: number): boolean {
  const s = effectiveStatus(t, now);
  return (s === "ready" || s === "delivered") && t.purged_at === null && t.expires_at > now;
}

export const isUsedUp = (t: Pick<TransferRow, "max_downloads" | "downloads">) => t.max_downloads !== null && t.downloads >= t.max_downloads;

/** A recipient whose latest counted start is recent enough to finish it (FINISH_MS, ./config.ts). */
export const mayFinish = (r: Pick<RecipientRow, "started_at"> | null | undefined, now: number) =>
  !!r && r.started_at !== null && now - r.started_at < FINISH_MS;

/** Whether maxDownloads still lets this recipient download anything (a start, or finishing its own). */
export const mayDownload = (rec: TransferRecord, terminalId: string, now: number) =>
  mayDownloadBy(rec.transfer, rec.recipients.find((r) => r.terminal_id === terminalId), now);

/** mayDownload's rule from the transfer's count and limit and the recipient's row (none: not a recipient, so only while not used up). */
export const mayDownloadBy = (t: Pick<TransferRow, "max_downloads" | "downloads">, r: Pick<RecipientRow, "started_at"> | null | undefined, now: number) =>
  !isUsedUp(t) || mayFinish(r, now);

export const isRecipient = (rec: TransferRecord, terminalId: string) =>
  rec.recipients.some((r) => r.terminal_id === terminalId);

export const isSender = (rec: TransferRecord, terminalId: string) => rec.transfer.sender_id === terminalId;
