import { MESSAGE_TTL_MS } from "../config";
import type { ServerMessage } from "../contract";
import { presentTransfer, shownTerminalName } from "../present";
import { enqueueKeyAnnouncement } from "../package/jobs";
import { contactHolders } from "../store/contacts";
import { getTerminal } from "../store/terminals";
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

/**
 * Terminals one queue message announces a key change to, all at once; a next message takes the
 * next page. Small: each is a Durable Object call (a subrequest), and a batch holds 10 messages.
 */
export const KEY_PAGE = 50;

/**
 * The jobs queue's part of `PUT /v1/terminals/{id}/key` (src/auth/key.ts): `terminal.key_changed`
 * (v1.2) to the terminal itself and to each terminal that holds it as a contact, a page of
 * KEY_PAGE holders per queue message (`after`: where the page before ended). Queued and sent
 * to live sockets, never by Web Push (a key is checked by an open client, not announced on a
 * lock screen: Terminal's NEVER_PUSHED). Its id names the key's generation, so a redelivered
 * job queues nothing twice; an announcement of a key that was replaced since (or of a deleted
 * terminal) sends nothing: the newer key's own announcement goes out, and in each outbox it
 * supersedes an older one still unacknowledged (Outbox.supersedeKey).
 */
export async function notifyKeyChanged(env: Env, terminalId: string, gen: number, after?: string): Promise<void> {
  const me = await getTerminal(env.DB, terminalId);
  if (!me || me.age_key_gen !== gen) return;
  const msg: ServerMessage = { type: "terminal.key_changed", id: `${me.id}.key.${gen}`, terminal: { id: me.id, name: shownTerminalName(me.id, me.name), key: me.age_key } };
  const page = await contactHolders(env.DB, me.id, after ?? "", KEY_PAGE);
  const targets = after === undefined ? [me.id, ...page.filter((id) => id !== me.id)] : page;
  await Promise.all(targets.map((id) => send(env, id, msg, { transferId: null, expiresAt: Date.now() + MESSAGE_TTL_MS })));
  if (page.length === KEY_PAGE) await enqueueKeyAnnouncement(env, me.id, gen, page[page.length - 1]);
}
