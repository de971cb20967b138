import { notifyOpened } from "../notify/producers";
import { recordOpened } from "../store/delivery";
import type { TransferRecord } from "../store/transfers";

/**
 * v1.2: a recipient opened (looked at) a transfer, `POST /v1/transfers/{id}/opened`. Its
 * `openedAt` is set the first time, and the sender gets `transfer.opened`, once. The message
 * goes first (its id is derived from the event, so a retry after a failure queues nothing
 * twice) and the fact is written after it: a call that fails half way leaves `openedAt` unset,
 * and the client's retry completes it. Later calls change nothing. (An ack of `transfer.ready`
 * still means only that the device has the message.)
 */
export async function transferOpened(env: Env, rec: TransferRecord, terminalId: string, now = Date.now()): Promise<void> {
  const mine = rec.recipients.find((r) => r.terminal_id === terminalId);
  if (!mine || mine.opened_at !== null) return;
  const seen: TransferRecord = { ...rec, recipients: rec.recipients.map((r) => (r === mine ? { ...r, opened_at: now } : r)) };
  await notifyOpened(env, seen, terminalId, now);
  await recordOpened(env.DB, rec.transfer.id, terminalId, now);
}
