import type { ServerMessage } from "../contract";
import { baseUrl, linkTransfer, signLinks } from "../present";

/**
 * The links of a queued message are made when it is SENT (to a socket, replayed on connect,
 * or by Web Push), not when it was queued: producers queue a Transfer with relative, unsigned
 * links (present.ts, a Viewer with no origin), and the terminal's object completes it here.
 * So a message replayed after a token rotation carries links signed for the new token (the
 * old generation's are revoked), and every link points at PUBLIC_URL, else at an origin the
 * recipient itself used (the socket's own; for a push, the origin it last used), never at
 * the origin of the sender's request.
 */

/** A message as it goes out, for a given origin (null: none known; links then stay relative). */
export type Rendered = (origin: string | null) => ServerMessage;

/**
 * Prepares `msg` for sending to terminal `terminalId`, whose token is of generation `gen`:
 * signs its download links once (a transfer.ready with files, to one of its recipients; not
 * when `sign` is false: a push subscription made with a token since rotated away gets none),
 * and returns how to make it for each origin.
 */
export async function renderMessage(env: Env, msg: ServerMessage, terminalId: string | null, gen: number, sign = true): Promise<Rendered> {
  if (msg.type !== "transfer.ready" && msg.type !== "transfer.opened") return () => msg;
  const t = msg.transfer;
  const mine = sign && msg.type === "transfer.ready" && terminalId !== null && t.files.length > 0 && t.to.includes(terminalId);
  const signed = mine ? await signLinks(env, t.id, terminalId, gen, Date.parse(t.expiresAt)) : null;
  return (origin) => ({ ...msg, transfer: linkTransfer(t, baseUrl(env, origin), signed) });
}

/** An origin worth remembering for links: the request's own, unless absurdly long (a forged Host). */
export function originOfRequest(request: Request): string | null {
  const origin = new URL(request.url).origin;
  return origin !== "null" && origin.length <= 256 ? origin : null;
}
