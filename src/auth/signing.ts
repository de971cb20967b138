import { base64url, fromBase64url } from "./ids";

/**
 * Signed download links: `?r=<recipient id>&g=<token generation>&exp=<unix seconds>&sig=<HMAC-SHA256>`
 * over "dl2.<transferId>.<recipient>.<generation>.<exp>". A link opens the package and every
 * file of one transfer for one recipient until `exp`, in a plain browser tab with no headers,
 * as long as the recipient's token is still of generation `g` (a rotation or a deletion
 * revokes it: see access.ts). Links minted before generations were signed (`dl1`, no `g`)
 * count as generation 1: they die with the first rotation.
 * Verification uses `crypto.subtle.verify`, a constant-time comparison.
 */

const keys = new Map<string, Promise<CryptoKey>>();

function hmacKey(secret: string): Promise<CryptoKey> {
  let key = keys.get(secret);
  if (!key) {
    key = crypto.subtle.importKey(
      "raw",
      new TextEncoder().encode(secret),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign", "verify"],
    );
    keys.set(secret, key);
  }
  return key;
}

const payload = (transferId: string, recipient: string, gen: number | null, exp: number) =>
  new TextEncoder().encode(gen === null ? `dl1.${transferId}.${recipient}.${exp}` : `dl2.${transferId}.${recipient}.${gen}.${exp}`);

export interface LinkGrant {
  recipient: string;
  /** the recipient's token generation the link was minted for */
  gen: number;
  exp: number;
}

export async function signDownload(
  secret: string,
  transferId: string,
  recipient: string,
  gen: number,
  exp: number,
): Promise<string> {
  const sig = await crypto.subtle.sign("HMAC", await hmacKey(secret), payload(transferId, recipient, gen, exp));
  return new URLSearchParams({ r: recipient, g: String(gen), exp: String(exp), sig: base64url(new Uint8Array(sig)) }).toString();
}

export type LinkCheck =
  | { ok: true; grant: LinkGrant }
  | { ok: false; reason: "malformed" | "bad_signature" | "expired" };

export async function verifyDownload(
  secret: string,
  transferId: string,
  params: { r?: string; g?: string; exp?: string; sig?: string },
  nowSeconds: number,
): Promise<LinkCheck> {
  const { r, g, exp, sig } = params;
  if (!r || !exp || !sig || !/^\d{1,12}$/.test(exp) || !/^[A-Za-z0-9_-]{43}$/.test(sig) || !/^\d{9}$/.test(r)) {
    return { ok: false, reason: "malformed" };
  }
  if (g !== undefined && !/^[1-9]\d{0,8}$/.test(g)) return { ok: false, reason: "malformed" };
  const gen = g === undefined ? null : Number(g);
  const expN = Number(exp);
  const valid = await crypto.subtle.verify(
    "HMAC",
    await hmacKey(secret),
    fromBase64url(sig),
    payload(transferId, r, gen, expN),
  );
  if (!valid) return { ok: false, reason: "bad_signature" };
  if (expN <= nowSeconds) return { ok: false, reason: "expired" };
  return { ok: true, grant: { recipient: r, gen: gen ?? 1, exp: expN } };
}

/**
 * Whether a grant still stands for its recipient as it is now: the terminal exists and its
 * token is not newer than the generation the link was minted for. (A link may carry a newer
 * generation than D1's for a moment: a rotation raises it in the terminal's object, which
 * signs messages, just before D1 commits.)
 */
export function grantStands(grant: LinkGrant, currentGen: number | null): boolean {
  return currentGen !== null && grant.gen >= currentGen;
}
