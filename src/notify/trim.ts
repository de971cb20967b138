import type { OpenedPushSummary, PushedReady, PushSummary, ServerMessage } from "../contract";

/**
 * Web Push carries at most 3,993 bytes of plaintext (4,096 minus the aes128gcm record
 * overhead). A message that fits goes as it is; a `transfer.ready` that does not becomes a
 * summary that still names the transfer, its sender and its files, and a `transfer.opened`
 * one that names the transfer and who opened it; each is always valid JSON: the client fetches
 * the whole Transfer by id when it needs more. A sealed transfer's `transfer.ready` also
 * carries its `seal.age` (base64, `seal`) when that fits (v1.2).
 */
export const MAX_PUSH_PLAINTEXT = 3993;

const enc = new TextEncoder();
const bytes = (v: unknown) => enc.encode(JSON.stringify(v)).byteLength;

/** At most `max` UTF-16 units, ending in "…" when cut; never half of a surrogate pair. */
export function cut(s: string, max: number): string {
  if (s.length <= max) return s;
  let end = Math.max(0, Math.floor(max) - 1);
  const last = s.charCodeAt(end - 1);
  if (end > 0 && last >= 0xd800 && last <= 0xdbff) end--; // a high surrogate: keep the pair whole or drop it
  return `${s.slice(0, end)}…`;
}

/** The length of `n` bytes in padded base64. */
const base64Length = (n: number) => 4 * Math.ceil(n / 3);

/**
 * Less than the smallest push that can carry a seal (a summary of a sealed transfer, with an
 * empty sender name: about 230 bytes of JSON besides the seal). A `seal.age` whose base64 leaves
 * less than this under the limit can never fit, so the pusher does not read it (sealMayFit).
 */
const SEAL_ROOM = 200;

/** Whether a `seal.age` of `size` bytes may fit a push at all (if not, it need not be read). */
export const sealMayFit = (size: number, limit = MAX_PUSH_PLAINTEXT) => base64Length(size) + SEAL_ROOM <= limit;

type Ready = Extract<ServerMessage, { type: "transfer.ready" }>;

/**
 * What is pushed for `msg`. `seal` is a sealed transfer's `seal.age` in base64 (or null: not
 * sealed, not read, or too big): the whole message with it if that fits, else its summary with
 * it; if neither fits, the message as without a seal (whole, else the summary).
 */
export function trimForPush(
  msg: ServerMessage,
  limit = MAX_PUSH_PLAINTEXT,
  seal: string | null = null,
): ServerMessage | PushedReady | PushSummary | OpenedPushSummary {
  if (msg.type === "transfer.ready" && seal !== null) {
    const whole: PushedReady = { ...msg, seal };
    if (bytes(whole) <= limit) return whole;
    const summary: PushSummary = { ...summarize(msg, limit), seal };
    if (bytes(summary) <= limit) return summary;
  }
  if (bytes(msg) <= limit) return msg;
  if (msg.type === "transfer.opened") {
    // its Transfer lists every file (for the sender, with upload links): it shrinks to its id
    const summary: OpenedPushSummary = { type: "transfer.opened", id: msg.id, transfer: { id: msg.transfer.id }, by: msg.by, summary: true };
    return summary;
  }
  if (msg.type !== "transfer.ready") {
    // the small messages only grow past the limit through a long reason
    if (msg.type === "transfer.failed") return { ...msg, reason: cut(msg.reason, 500) };
    return msg;
  }
  return summarize(msg, limit);
}

/**
 * A `transfer.ready` as a summary of at most `limit` bytes: the sender, the message, the files'
 * count and size and as many names as fit. A sealed transfer's names are opaque (`1.age`…): it
 * lists none, and says `sealed: true` (its message is null: it is inside seal.age).
 */
function summarize(msg: Ready, limit: number): PushSummary {
  const t = msg.transfer;
  const summary: PushSummary = {
    type: "transfer.ready",
    id: msg.id,
    transferId: t.id,
    summary: true,
    from: { id: t.from.id, name: cut(t.from.name, 64) },
    message: t.message === null ? null : cut(t.message, 280),
    files: { count: t.files.length, size: t.size, names: [] },
    expiresAt: t.expiresAt,
  };
  if (t.sealed) {
    summary.sealed = true;
    return summary;
  }
  for (const f of t.files) {
    const name = cut(f.name, 120);
    summary.files.names.push(name);
    if (bytes(summary) > limit) {
      summary.files.names.pop();
      break;
    }
  }
  while (bytes(summary) > limit && summary.message) summary.message = cut(summary.message, summary.message.length / 2);
  return summary;
}
