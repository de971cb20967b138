import { MESSAGE_TTL_MS } from "../config";
import type { ServerMessage } from "../contract";
import { presentTransfer } from "../present";
import type { TransferRecord, TransferRow } from "../store/transfers";

/**
 * Step 3 of the flow: hand each message to the Durable Object of the terminal it is for,
 * addressed by terminal id. Message ids are derived from the event, so a producer that
 * runs twice (queues deliver at least once) queues nothing twice.
 */

/** How a message is queued (the Terminal Durable Object's `enqueue`). */
export interface EnqueueOptions {
  transferId: string | null;
  /** when the message stops mattering (its transfer's expiry); also the push TTL */
  expiresAt: number | null;
  /** a message of this type for the same transfer is retired when this one arrives */
  supersedes?: string;
  /** false: never sent by Web Push (v1.2 `terminal.key_changed`), only to sockets and on replay */
  push?: boolean;
}

export function terminalStub(env: Env, terminalId: string) {
  return env.TERMINAL.get(env.TERMINAL.idFromName(terminalId));
}

async function send(env: Env, terminalId: string, msg: ServerMessage, opts: EnqueueOptions): Promise<void> {
  await terminalStub(env, terminalId).enqueue(terminalId, msg, opts);
}

/**
 * `transfer.ready` to every recipient: one Transfer, presented once, with relative, unsigned
 * links (no viewer); each recipient's object signs them for itself when it sends the message
 * (notify/links.ts renderMessage).
 */
export async function notifyReady(env: Env, rec: TransferRecord, now = Date.now()): Promise<void> {
  const t = rec.transfer;
  const msg: ServerMessage = { type: "transfer.ready", id: `${t.id}.ready`, transfer: await presentTransfer(env, rec, { terminalId: null, now }) };
  await Promise.all(rec.recipients.map((r) => send(env, r.terminal_id, msg, { transferId: t.id, expiresAt: t.expires_at })));
}

/** The delivery receipt, to the sender. */
export async function notifyDownloaded(env: Env, t: TransferRow, by: string, at: number): Promise<void> {
  await send(
    env,
    t.sender_id,
    { type: "transfer.downloaded", id: `${t.id}.downloaded.${by}`, transferId: t.id, by, at: new Date(at).toISOString() },
    { transferId: t.id, expiresAt: Date.now() + MESSAGE_TTL_MS },
  );
}

/**
 * v1.2: `transfer.opened` to the sender: recipient `by` looked at the transfer (`rec` as it is
 * with that recipient's `openedAt` set). Once per recipient: its id is derived from the event.
 */
export async function notifyOpened(env: Env, rec: TransferRecord, by: string, now = Date.now()): Promise<void> {
  const t = rec.transfer;
  const transfer = await presentTransfer(env, rec, { terminalId: t.sender_id, now });
  await send(env, t.sender_id, { type: "transfer.opened", id: `${t.id}.opened.${by}`, transfer, by }, {
    transferId: t.id,
    expiresAt: now + MESSAGE_TTL_MS,
  });
}

/**
 * `transfer.expired` / `transfer.cancelled` to the recipients (of `rec`) that had not
 * downloaded it, and to the sender: always of an expiry; of a cancellation when `toSender`
 * (it did not cancel it itself: its last recipient released it, src/auth/withdraw.ts).
 */
export async function notifyEnded(
  env: Env,
  rec: TransferRecord,
  type: "transfer.expired" | "transfer.cancelled",
  toSender = type === "transfer.expired",
): Promise<void> {
  const t = rec.transfer;
  const kind = type.slice("transfer.".length);
  const targets = new Set<string>(rec.recipients.filter((r) => r.downloaded_at === null).map((r) => r.terminal_id));
  if (toSender) targets.add(t.sender_id);
  await Promise.all(
    [...targets].map((id) =>
      send(env, id, { type, id: `${t.id}.${kind}`, transferId: t.id }, {
        transferId: t.id,
        expiresAt: Date.now() + MESSAGE_TTL_MS,
        supersedes: "transfer.ready",
      }),
    ),
  );
}

/** The sender learns why its transfer could not be packaged. */
export async function notifyFailed(env: Env, t: TransferRow, reason: string): Promise<void> {
  await send(env, t.sender_id, { type: "transfer.failed", id: `${t.id}.failed`, transferId: t.id, reason }, {
    transferId: t.id,
    expiresAt: Date.now() + MESSAGE_TTL_MS,
  });
}

/** Terminals told at once of a key change (the rest wait for these). */
const KEY_FANOUT = 50;

/**
 * `terminal.key_changed` (v1.2) to each of `targets`: queued and sent to live sockets, never by
 * Web Push (a key is checked by an open client, not announced on a lock screen). Its id names
 * the key's generation, so a retried producer queues nothing twice.
 */
export async function notifyKeyChanged(
  env: Env,
  terminal: { id: string; name: string; key: string | null },
  gen: number,
  targets: readonly string[],
): Promise<void> {
  const msg: ServerMessage = { type: "terminal.key_changed", id: `${terminal.id}.key.${gen}`, terminal };
  const unique = [...new Set(targets)];
  for (let i = 0; i < unique.length; i += KEY_FANOUT) {
    await Promise.all(
      unique.slice(i, i + KEY_FANOUT).map((id) =>
        send(env, id, msg, { transferId: null, expiresAt: Date.now() + MESSAGE_TTL_MS, push: false }),
      ),
    );
  }
}
