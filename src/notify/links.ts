import type { ServerMessage } from "../contract";
import { mayDownloadBy } from "../lifecycle";
import { baseUrl, linkTransfer, signLinks } from "../present";
import { downloadStanding } from "../store/delivery";

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
 * when `sign` is false: a push subscription made with a token since rotated away gets none;
 * nor once `maxDownloads` is used up, as it is now in D1, not in the queued copy, unless this
 * recipient may still finish its own start: the links are for downloads, as in present.ts),
 * and returns how to make it for each origin.
 */
export async function renderMessage(env: Env, msg: ServerMessage, terminalId: string | null, gen: number, sign = true): Promise<Rendered> {
  if (msg.type !== "transfer.ready" && msg.type !== "transfer.opened") return () => msg;
  const t = msg.transfer;
  const mine = sign && msg.type === "transfer.ready" && terminalId !== null && t.files.length > 0 && t.to.includes(terminalId);
  const signed = mine && (await mayStillDownload(env, t.id, terminalId, t.maxDownloads)) ? await signLinks(env, t.id, terminalId, gen, Date.parse(t.expiresAt)) : null;
  return (origin) => ({ ...msg, transfer: linkTransfer(t, baseUrl(env, origin), signed) });
}

/** Whether maxDownloads (`max`, from the queued copy: null, no limit, needs no look-up) still lets `terminalId` download. */
async function mayStillDownload(env: Env, transferId: string, terminalId: string, max: number | null): Promise<boolean> {
  if (max === null) return true;
  const s = await downloadStanding(env.DB, transferId, terminalId);
  return s !== null && mayDownloadBy(s, s, Date.now());
}

/** An origin worth remembering for links: the request's own, unless absurdly long (a forged Host). */
export function originOfRequest(request: Request): string | null {
  const origin = new URL(request.url).origin;
  return origin !== "null" && origin.length <= 256 ? origin : null;
}
