/**
 * Terminal ids are 9 decimal digits: 8 random digits and a Damm check digit. Digits are
 * what every phone keypad types and every language reads aloud; the Damm algorithm
 * catches every single-digit error and every swap of two adjacent digits, so a mistyped
 * id is rejected as malformed instead of reaching a stranger. Shown grouped "123 456 789";
 * spaces, dashes and dots are accepted and dropped on input.
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

export function newTerminalId(): string {
  const bytes = new Uint32Array(8);
  let body = "";
  while (body.length < 8) {
    crypto.getRandomValues(bytes);
    for (const b of bytes) {
      if (body.length === 8) break;
      if (b < 4_294_967_290) body += String(b % 10); // reject the biased tail
    }
  }
  return body + String(dammDigit(body));
}

export function formatTerminalId(id: string): string {
  return `${id.slice(0, 3)} ${id.slice(3, 6)} ${id.slice(6)}`;
}

export function base64url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function fromBase64url(s: string): Uint8Array {
  const b64 = s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4);
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function randomBytes(n: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(n));
}

/** Transfer ids: 128 random bits, base64url (22 characters). */
export function newTransferId(): string {
  return base64url(randomBytes(16));
}

export const TRANSFER_ID_RE = /^[A-Za-z0-9_-]{22}$/;
