import type { ServerMessage } from "../contract";
import { isMessageOnly, messageRead } from "../deliver/read";
import { markNotified } from "../store/transfers";
import type { Outbox, OutboxRow } from "./outbox";

/** What a Terminal Durable Object writes back to D1: when a recipient was told, and when it read a message. */

/** `recipients[].notifiedAt` and `channel` for each `transfer.ready` among `msgs` (first time only). */
export async function recordNotified(env: Env, terminalId: string, msgs: readonly ServerMessage[], channel: "socket" | "push"): Promise<void> {
  const now = Date.now();
  for (const m of msgs) {
    if (m.type !== "transfer.ready") continue;
    try {
      await markNotified(env.DB, m.transfer.id, terminalId, channel, now);
    } catch (e) {
      console.error("recording notifiedAt failed", m.transfer.id, terminalId, e);
    }
  }
}

/** A message without files is delivered by its ack; if that cannot be recorded now, it stays unacknowledged. */
export async function acknowledged(env: Env, outbox: Outbox, row: OutboxRow, terminalId: string | null): Promise<void> {
  if (row.type !== "transfer.ready") return;
  const msg = JSON.parse(row.body) as ServerMessage;
  if (!isMessageOnly(msg) || !terminalId) return;
  try {
    await messageRead(env, msg.transfer.id, terminalId);
  } catch (e) {
    console.error(JSON.stringify({ event: "receipt_failed", transfer: msg.transfer.id, terminal: terminalId, error: String(e) }));
    outbox.reopen(row);
  }
}
