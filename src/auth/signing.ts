import { base64url, fromBase64url } from "./ids";

/**
 * Signed download links: `?r=<recipient id>&exp=<unix seconds>&sig=<HMAC-SHA256>` over
 * "dl1.<transferId>.<recipient>.<exp>". A link opens the package and every file of one
 * transfer for one recipient until `exp`, in a plain browser tab with no headers.
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

const payload = (transferId: string, recipient: string, exp: number) =>
  new TextEncoder().encode(`dl1.${transferId}.${recipient}.${exp}`);

export interface LinkGrant {
  recipient: string;
  exp: number;
}

export async function signDownload(
  secret: string,
  transferId: string,
  recipient: string,
  exp: number,
): Promise<string> {
  const sig = await crypto.subtle.sign("HMAC", await hmacKey(secret), payload(transferId, recipient, exp));
  return new URLSearchParams({ r: recipient, exp: String(exp), sig: base64url(new Uint8Array(sig)) }).toString();
}

export type LinkCheck =
  | { ok: true; grant: LinkGrant }
  | { ok: false; reason: "malformed" | "bad_signature" | "expired" };

export async function verifyDownload(
  secret: string,
  transferId: string,
  params: { r?: string; exp?: string; sig?: string },
  nowSeconds: number,
): Promise<LinkCheck> {
  const { r, exp, sig } = params;
  if (!r || !exp || !sig || !/^\d{1,12}$/.test(exp) || !/^[A-Za-z0-9_-]{43}$/.test(sig) || !/^\d{9}$/.test(r)) {
    return { ok: false, reason: "malformed" };
  }
  const expN = Number(exp);
  const valid = await crypto.subtle.verify(
    "HMAC",
    await hmacKey(secret),
    fromBase64url(sig),
    payload(transferId, r, expN),
  );
  if (!valid) return { ok: false, reason: "bad_signature" };
  if (expN <= nowSeconds) return { ok: false, reason: "expired" };
  return { ok: true, grant: { recipient: r, exp: expN } };
}
