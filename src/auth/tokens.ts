import { hex } from "../contract";
import { base64url, randomBytes } from "./ids";

/**
 * Terminal tokens: "pd_" + 256 random bits in base64url. The server keeps only the
 * SHA-256 of a token and finds the terminal by that hash (a unique index); the hash found
 * is compared again in constant time (`sameSecret`). Signed links are checked with
 * `crypto.subtle.verify`, which is constant-time too.
 */
export function newToken(): string {
  return `pd_${base64url(randomBytes(32))}`;
}

export const TOKEN_RE = /^pd_[A-Za-z0-9_-]{43}$/;

export async function sha256Hex(data: string | Uint8Array): Promise<string> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return hex(new Uint8Array(digest));
}


export async function hashToken(token: string): Promise<string> {
  return sha256Hex(token);
}

/** Constant-time equality of two secrets (or hashes of secrets) as strings. */
export function sameSecret(a: string, b: string): boolean {
  const enc = new TextEncoder();
  const x = enc.encode(a);
  const y = enc.encode(b);
  // timingSafeEqual needs equal lengths; comparing y with itself keeps the time the same
  return x.byteLength === y.byteLength ? crypto.subtle.timingSafeEqual(x, y) : !crypto.subtle.timingSafeEqual(y, y);
}
