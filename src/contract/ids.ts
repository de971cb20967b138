/**
 * Ids and encodings every client shares. Terminal ids are 9 decimal digits: 8 random digits
 * and a Damm check digit. Digits are what every phone keypad types and every language reads
 * aloud; the Damm algorithm catches every single-digit error and every swap of two adjacent
 * digits, so a mistyped id is rejected as malformed instead of reaching a stranger. Shown
 * grouped "123 456 789"; spaces, dashes and dots are accepted and dropped on input.
 *
 * Pure code: no runtime globals (this folder compiles with `types: []`).
 */

const DAMM: readonly (readonly number[])[] = [
  [0, 3, 1, 7, 5, 9, 8, 6, 4, 2],
  [7, 0, 9, 2, 1, 5, 4, 8, 6, 3],
  [4, 2, 0, 6, 8, 7, 1, 3, 5, 9],
  [1, 7, 5, 0, 9, 8, 3, 4, 2, 6],
  [6, 1, 2, 3, 0, 4, 5, 9, 7, 8],
  [3, 6, 7, 4, 2, 0, 9, 5, 8, 1],
  [5, 8, 6, 9, 7, 2, 0, 1, 3, 4],
  [8, 9, 4, 5, 3, 6, 2, 0, 1, 7],
  [9, 4, 3, 8, 6, 1, 7, 2, 0, 5],
  [2, 5, 8, 1, 4, 3, 6, 7, 9, 0],
];

export function dammDigit(digits: string): number {
  let interim = 0;
  for (const ch of digits) interim = DAMM[interim]![ch.charCodeAt(0) - 48]!;
  return interim;
}

export const TERMINAL_ID_LENGTH = 9;

/** Canonical form of a typed id (digits only), or null when it is not a well-formed id. */
export function normalizeTerminalId(input: string): string | null {
  const digits = input.replace(/[\s.\-]/g, "");
  if (!/^\d{9}$/.test(digits)) return null;
  return dammDigit(digits) === 0 ? digits : null;
}

/** "578418129" → "578 418 129". */
export function formatTerminalId(id: string): string {
  return `${id.slice(0, 3)} ${id.slice(3, 6)} ${id.slice(6)}`;
}

/** Transfer ids: 128 random bits, base64url (22 characters). */
export const TRANSFER_ID_RE = /^[A-Za-z0-9_-]{22}$/;

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const B64_INDEX = new Map([...B64].map((c, i) => [c, i]));

/** Bytes → base64url without padding (RFC 4648 §5). */
export function base64url(bytes: Uint8Array): string {
  let s = "";
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    s += B64[n >> 18]! + B64[(n >> 12) & 63]! + B64[(n >> 6) & 63]! + B64[n & 63]!;
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i]! << 16;
    s += B64[n >> 18]! + B64[(n >> 12) & 63]!;
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    s += B64[n >> 18]! + B64[(n >> 12) & 63]! + B64[(n >> 6) & 63]!;
  }
  return s;
}

/** Bytes → lowercase hex (SHA-256 digests are shown so). */
export function hex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

/** base64url or base64 (padding optional) → bytes; throws on other characters. */
export function fromBase64url(s: string): Uint8Array {
  const clean = s.replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
  const out = new Uint8Array(Math.floor((clean.length * 3) / 4));
  let bits = 0;
  let acc = 0;
  let o = 0;
  for (const c of clean) {
    const v = B64_INDEX.get(c);
    if (v === undefined) throw new RangeError(`not base64url: ${JSON.stringify(c)}`);
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  return out.subarray(0, o);
}

/**
 * v1.2: the shape of an age X25519 recipient: `age1` and 58 lowercase bech32 characters (32 key
 * bytes and a checksum). Post-quantum (`age1pq1…`), tag and plugin recipients do not have it.
 * The shape only: the server (src/auth/key.ts) and client/seal also check the bech32 checksum
 * and the key's length.
 */
export const AGE_RECIPIENT_RE = /^age1[02-9ac-hj-np-z]{58}$/;
