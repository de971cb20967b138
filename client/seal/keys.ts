import { x25519 } from "@noble/curves/ed25519.js";
import { bech32 } from "@scure/base";
import { generateX25519Identity, identityToRecipient } from "age-encryption";
import { AGE_RECIPIENT_RE } from "../../src/contract/ids";

/**
 * A terminal's age key pair. The identity (private key) never leaves the device: in the CLI it
 * is the `AGE-SECRET-KEY-1…` string (what `age -d -i` reads); in a browser with WebCrypto
 * X25519 it is a non-extractable `CryptoKey` (kept in IndexedDB by the web app), elsewhere the
 * string. The recipient (`age1…`) is the public half that the server publishes.
 */
export type AgeIdentity = string | WebCryptoKey;
/** WebCrypto's CryptoKey, as age-encryption names it (client/ compiles with and without the DOM's types). */
export type WebCryptoKey = Exclude<Parameters<typeof identityToRecipient>[0], string>;

export interface KeyPair<I extends AgeIdentity = AgeIdentity> {
  identity: I;
  recipient: string;
}

export interface DeviceKeyPair extends KeyPair {
  /**
   * true when the private key is a non-extractable WebCrypto key (script on the page can use it
   * but not read it); false when it is a stored identity string (no WebCrypto X25519 here), which
   * the device must say on its screen.
   */
  nonExtractable: boolean;
}

/** A new X25519 identity as a string, for the CLI (config file, `pushdrop key export`). */
export async function generateIdentity(): Promise<KeyPair<string>> {
  const identity = await generateX25519Identity();
  return { identity, recipient: await identityToRecipient(identity) };
}

/**
 * A new identity for a browser: a non-extractable WebCrypto X25519 private key where the
 * browser has X25519, else an identity string (and `nonExtractable: false`).
 */
export async function generateDeviceIdentity(): Promise<DeviceKeyPair> {
  let pair: { privateKey?: WebCryptoKey } | undefined;
  try {
    pair = (await crypto.subtle.generateKey({ name: "X25519" }, false, ["deriveBits"])) as { privateKey?: WebCryptoKey };
  } catch {
    pair = undefined; // NotSupportedError (no X25519 in this browser's WebCrypto)
  }
  if (pair?.privateKey) {
    return { identity: pair.privateKey, recipient: await identityToRecipient(pair.privateKey), nonExtractable: true };
  }
  return { ...(await generateIdentity()), nonExtractable: false };
}

/** The recipient (`age1…`) of an identity string or X25519 `CryptoKey`. */
export function recipientOf(identity: AgeIdentity): Promise<string> {
  return identityToRecipient(identity);
}

/**
 * The 32 public key bytes of an age X25519 recipient, or null when `s` is not one: wrong shape,
 * bad bech32 checksum, or another kind of recipient (post-quantum `age1pq1…`, tag, plugin).
 */
export function recipientBytes(s: string): Uint8Array | null {
  if (typeof s !== "string" || !AGE_RECIPIENT_RE.test(s)) return null;
  const decoded = bech32.decodeUnsafe(s);
  if (!decoded || decoded.prefix !== "age") return null;
  const bytes = bech32.fromWordsUnsafe(decoded.words);
  return bytes && bytes.length === 32 && agrees(s, bytes) ? bytes : null;
}

/** what agrees() found for recent keys (it costs a scalar multiplication, some milliseconds) */
const agreed = new Map<string, boolean>();

/**
 * Whether X25519 agreement with `bytes` gives a secret: not for a low-order point (a handful of
 * them; Debian's `age -r` says "bad input point: low order point"), which gives every party the
 * same all-zero secret. A server could publish one: it is no key (decideTrust: `bad_key`), not a
 * crash when the file key is wrapped. @noble/curves' x25519 (the one age-encryption itself uses
 * where WebCrypto has no X25519) refuses such a point.
 */
function agrees(s: string, bytes: Uint8Array): boolean {
  let ok = agreed.get(s);
  if (ok === undefined) {
    try {
      x25519.getSharedSecret(x25519.utils.randomSecretKey(), bytes);
      ok = true;
    } catch {
      ok = false;
    }
    if (agreed.size >= 256) agreed.clear();
    agreed.set(s, ok);
  }
  return ok;
}

/** Whether `s` is an age X25519 recipient this module seals to. */
export function isRecipient(s: string): boolean {
  return recipientBytes(s) !== null;
}

/** Whether `s` is an X25519 identity string (`AGE-SECRET-KEY-1…`, checksum and length checked). */
export function isIdentityString(s: string): boolean {
  if (typeof s !== "string" || !/^AGE-SECRET-KEY-1[02-9AC-HJ-NP-Z]{58}$/.test(s)) return false;
  const decoded = bech32.decodeUnsafe(s);
  if (!decoded || decoded.prefix !== "age-secret-key-") return false;
  const bytes = bech32.fromWordsUnsafe(decoded.words);
  return !!bytes && bytes.length === 32;
}
