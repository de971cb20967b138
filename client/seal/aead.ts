/**
 * age-encryption's ChaCha20-Poly1305 from another implementation than @noble/ciphers' JavaScript
 * one: OpenSSL's in the CLI (cli/chacha-openssl.ts), libsodium's WebAssembly in the sealing and
 * service workers (web/seal-worker/chacha.ts). scripts/chacha-plugins.mjs gives age-encryption
 * such a module in place of `@noble/ciphers/chacha.js`; this is the part they share: the shape
 * age-encryption calls, `chacha20poly1305(key, nonce, aad?).encrypt(p) / .decrypt(c)`, around a
 * primitive that seals or opens one message.
 *
 * Nothing of age is written here or there: age-encryption still does the format, the header,
 * HKDF, the nonces and the chunking. What this adds is what @noble/ciphers promises its callers:
 * key, nonce and AAD are taken when the cipher is made (age counts its STREAM nonce up in place
 * and reuses its plaintext buffer), a key and nonce pair encrypts once, the lengths are checked,
 * and a wrong tag throws "invalid tag".
 */

/** One RFC 8439 ChaCha20-Poly1305 message (12-byte nonce, the 16-byte tag after the ciphertext). */
export interface AeadPrimitive {
  /** a fresh array: the ciphertext, then the tag */
  seal(message: Uint8Array, aad: Uint8Array | null, nonce: Uint8Array, key: Uint8Array): Uint8Array;
  /** a fresh array: the plaintext, given out only once the tag checked; throws when it does not */
  open(ciphertext: Uint8Array, aad: Uint8Array | null, nonce: Uint8Array, key: Uint8Array): Uint8Array;
}

/** What age-encryption calls (@noble/ciphers' `chacha20poly1305`, as far as age uses it). */
export type Chacha20Poly1305 = (key: Uint8Array, nonce: Uint8Array, aad?: Uint8Array) => { encrypt(plaintext: Uint8Array): Uint8Array; decrypt(ciphertext: Uint8Array): Uint8Array };

export const KEY_BYTES = 32;
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;

function bytes(x: unknown, length: number | null, what: string): Uint8Array {
  if (!(x instanceof Uint8Array)) throw new TypeError(`${what} must be a Uint8Array`);
  if (length !== null && x.length !== length) throw new Error(`${what} must be ${length} bytes, got ${x.length}`);
  return x;
}

/** `primitive` in the shape age-encryption calls. */
export function chachaFrom(primitive: AeadPrimitive): Chacha20Poly1305 {
  return (key, nonce, aad) => {
    // copied now: the caller may change its arrays after
    const k = Uint8Array.from(bytes(key, KEY_BYTES, "key"));
    const n = Uint8Array.from(bytes(nonce, NONCE_BYTES, "nonce"));
    const a = aad === undefined ? null : Uint8Array.from(bytes(aad, null, "AAD"));
    let used = false;
    return {
      encrypt(plaintext) {
        bytes(plaintext, null, "plaintext");
        // a key and nonce pair seals one message, as with @noble/ciphers
        if (used) throw new Error("cannot encrypt() twice with the same key and nonce");
        used = true;
        return primitive.seal(plaintext, a, n, k);
      },
      decrypt(ciphertext) {
        bytes(ciphertext, null, "ciphertext");
        if (ciphertext.length < TAG_BYTES) throw new Error(`invalid ciphertext length: smaller than the ${TAG_BYTES}-byte tag`);
        try {
          return primitive.open(ciphertext, a, n, k);
        } catch {
          throw new Error("invalid tag");
        }
      },
    };
  };
}
