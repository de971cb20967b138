import { forbidden, gone } from "../errors";
import { isRecipient, isSender } from "../lifecycle";
import type { TerminalRow } from "../store/terminals";
import type { TransferRecord } from "../store/transfers";
import { tokenGenOf } from "../store/terminals";
import { grantStands, verifyDownload } from "./signing";
import { requireTerminal } from "./terminal";

/** Who may do what with a transfer. */

/** Reading a transfer: its sender or a recipient. */
export function assertParty(caller: TerminalRow, rec: TransferRecord): void {
  if (!isSender(rec, caller.id) && !isRecipient(rec, caller.id)) {
    throw forbidden("Only the sender and the recipients can see this transfer.");
  }
}

/** Uploading to, or cancelling, a transfer: its sender. */
export function assertSender(caller: TerminalRow, rec: TransferRecord): void {
  if (!isSender(rec, caller.id)) throw forbidden("Only the sender can change this transfer.");
}

/** Marking a transfer opened: a recipient (the sender and strangers are refused alike). */
export function assertRecipient(caller: TerminalRow, rec: TransferRecord): void {
  if (!isRecipient(rec, caller.id)) throw forbidden("Only a recipient of this transfer can mark it opened.");
}

export interface Downloader {
  terminalId: string;
  /** recipients' downloads count (receipts, maxDownloads); the sender's own do not */
  counts: boolean;
}

/**
 * Downloading: a recipient's signed link (`?r&g&exp&sig`, no header needed; revoked by a
 * rotation of that recipient's token or its deletion), a recipient's token, or the sender's
 * token (the sender's own downloads are not counted). A link costs an HMAC and one
 * primary-key read of its recipient's token generation: the same one read a token costs.
 */
export async function downloaderOf(
  env: Env,
  request: Request,
  rec: TransferRecord,
  query: Record<string, string>,
  nowSeconds = Math.floor(Date.now() / 1000),
): Promise<Downloader> {
  if (query.sig !== undefined || query.exp !== undefined || query.r !== undefined || query.g !== undefined) {
    const check = await verifyDownload(env.SIGNING_KEY, rec.transfer.id, query, nowSeconds);
    if (!check.ok && check.reason === "expired") {
      throw gone("link_expired", "This download link has expired; get a fresh one from GET /v1/transfers/{id}.");
    }
    if (!check.ok || !isRecipient(rec, check.grant.recipient)) {
      throw forbidden("This download link is not valid for this transfer.", "invalid_link");
    }
    // (after the HMAC, which costs no I/O: a forged link never reaches D1)
    if (!grantStands(check.grant, await tokenGenOf(env.DB, check.grant.recipient))) {
      throw forbidden(
        "This download link was revoked: its terminal's token was rotated or the terminal deleted. A terminal gets fresh links from GET /v1/transfers/{id}.",
        "link_revoked",
      );
    }
    return { terminalId: check.grant.recipient, counts: true };
  }
  const caller = await requireTerminal(env.DB, request);
  if (isRecipient(rec, caller.id)) return { terminalId: caller.id, counts: true };
  if (isSender(rec, caller.id)) return { terminalId: caller.id, counts: false };
  throw forbidden("Only the recipients (and the sender) can download this transfer.");
}
