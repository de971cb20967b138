import { sha512 } from "@noble/hashes/sha2.js";
import { SealError } from "./errors";
import { recipientBytes } from "./keys";

/**
 * Fingerprints and safety numbers, derived as Signal derives its safety numbers
 * (NumericFingerprintGenerator; docs/security.md says it in words):
 *
 *   h = SHA-512(0x0000 ‖ key ‖ id);  5200 times: h = SHA-512(h ‖ key)
 *   the first 30 bytes of h, as six 5-byte big-endian numbers, each mod 100000 → 5 digits
 *
 * where `key` is the 32-byte X25519 public key of the terminal's `age1…` recipient and `id`
 * its 9-digit terminal id (ASCII). That is a terminal's 30-digit fingerprint. The safety number
 * of two terminals is their two fingerprints, the smaller first: 60 digits, the same on both
 * sides. Anyone who swaps a key changes the number.
 */

const ITERATIONS = 5200;
const enc = new TextEncoder();

export interface PublishedKey {
  /** terminal id (9 digits) */
  id: string;
  /** its age X25519 recipient, `age1…` */
  key: string;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) (out.set(p, at), (at += p.length));
  return out;
}

/** A terminal's fingerprint: 30 digits. */
export function fingerprint(t: PublishedKey): string {
  const key = recipientBytes(t.key);
  if (!key) throw new SealError("bad_recipient", `not an age X25519 recipient: ${String(t.key).slice(0, 80)}`);
  if (!/^\d{9}$/.test(t.id)) throw new RangeError("a terminal id is 9 digits");
  let h = sha512(concat(new Uint8Array([0, 0]), key, enc.encode(t.id)));
  for (let i = 0; i < ITERATIONS; i++) h = sha512(concat(h, key));
  let digits = "";
  for (let i = 0; i < 30; i += 5) {
    // 5 bytes = 40 bits: beyond 32-bit integer arithmetic, within a double's 53
    let n = 0;
    for (let j = 0; j < 5; j++) n = n * 256 + h[i + j]!;
    digits += String(n % 100000).padStart(5, "0");
  }
  return digits;
}

/** The 60-digit safety number of two terminals (the same whichever is `a`). */
export function safetyNumber(a: PublishedKey, b: PublishedKey): string {
  const [x, y] = [fingerprint(a), fingerprint(b)].sort();
  return x! + y!;
}

/** Digits in groups of five, as people read them aloud ("12345 67890 …"). */
export function formatDigits(digits: string): string {
  return digits.replace(/(\d{5})(?=\d)/g, "$1 ");
}

/**
 * Whether `typed` (spaces, dashes and dots ignored) is the safety number of `a` and `b`, or
 * (30 digits) `b`'s fingerprint.
 */
export function verifySafetyNumber(a: PublishedKey, b: PublishedKey, typed: string): boolean {
  const digits = typed.replace(/[\s.\-]/g, "");
  if (/^\d{60}$/.test(digits)) return digits === safetyNumber(a, b);
  if (/^\d{30}$/.test(digits)) return digits === fingerprint(b);
  return false;
}
