import type { PushSummary, ServerMessage } from "../contract";

/**
 * Web Push carries at most 3,993 bytes of plaintext (4,096 minus the aes128gcm record
 * overhead). A message that fits goes as it is; a `transfer.ready` that does not becomes a
 * summary that still names the transfer, its sender and its files, and is always valid
 * JSON: the client fetches the whole Transfer by id when it needs more.
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

export function trimForPush(msg: ServerMessage, limit = MAX_PUSH_PLAINTEXT): ServerMessage | PushSummary {
  if (bytes(msg) <= limit) return msg;
  if (msg.type !== "transfer.ready") {
    // the small messages only grow past the limit through a long reason
    if (msg.type === "transfer.failed") return { ...msg, reason: cut(msg.reason, 500) };
    return msg;
  }
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
