import { chacha20poly1305 as javascript } from "@noble/ciphers/chacha.js";

/**
 * ChaCha20-Poly1305 (RFC 8439) for age-encryption in the sealing worker, in the shape of
 * @noble/ciphers' `chacha20poly1305(key, nonce, aad?)`: libsodium's WebAssembly one once
 * `loadWasmAead` loaded it (/seal-aead.js: libsodium-wrappers, by libsodium's author), else
 * @noble/ciphers' JavaScript one. scripts/build-web.mjs gives age-encryption this module in
 * place of @noble/ciphers in /seal-encrypt.js only (as the CLI's build gives it OpenSSL's).
 *
 * Nothing of age is written here: age-encryption still does the format, the header, HKDF, the
 * nonces and the chunking. Browsers' WebCrypto has no ChaCha20; @noble/ciphers' runs about
 * 95–100 MB/s in V8 here, libsodium's about 300 (64 KiB chunks, as age's). Checked equal to
 * @noble/ciphers byte for byte, tampering included, by test/cli/chacha-sodium.test.ts; a loaded
 * libsodium is also checked against @noble/ciphers once before it is used.
 */

/** What /seal-aead.js gives (libsodium's ietf ChaCha20-Poly1305: 12-byte nonce, 16-byte tag after the ciphertext). */
export interface WasmAead {
  seal(message: Uint8Array, aad: Uint8Array | null, nonce: Uint8Array, key: Uint8Array): Uint8Array;
  /** throws when the tag is wrong */
  open(ciphertext: Uint8Array, aad: Uint8Array | null, nonce: Uint8Array, key: Uint8Array): Uint8Array;
}

export type AeadKind = "wasm" | "js";

let wasm: WasmAead | null = null;

/** Uses `aead` from now on, once it gives what @noble/ciphers gives on a test message (else keeps JavaScript's). */
export function useWasmAead(aead: WasmAead): AeadKind {
  const key = Uint8Array.from({ length: 32 }, (_, i) => i * 7 + 1);
  const nonce = Uint8Array.from({ length: 12 }, (_, i) => 200 - i);
  const message = Uint8Array.from({ length: 300 }, (_, i) => (i * 31) & 255);
  const want = javascript(key, nonce).encrypt(message);
  const got = aead.seal(message, null, nonce, key);
  const same = got.length === want.length && got.every((b, i) => b === want[i]);
  wasm = same ? aead : null;
  return same ? "wasm" : "js";
}

/** The global /seal-aead.js sets (a promise: libsodium's WebAssembly is compiled asynchronously). */
export const WASM_AEAD_GLOBAL = "pushdropWasmAead";

/**
 * Loads /seal-aead.js into this worker (importScripts) and uses its ChaCha20-Poly1305; "js" when
 * it cannot (no such script, WebAssembly refused by the policy, a wrong result).
 */
export async function loadWasmAead(url: string): Promise<AeadKind> {
  try {
    const scope = globalThis as unknown as { importScripts(url: string): void } & Record<string, Promise<WasmAead> | undefined>;
    // (imported already: a service worker imports it while it installs)
    if (!scope[WASM_AEAD_GLOBAL]) scope.importScripts(url);
    const aead = await scope[WASM_AEAD_GLOBAL];
    return aead ? useWasmAead(aead) : "js";
  } catch {
    return "js";
  }
}

const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

function bytes(x: unknown, length: number | null, what: string): Uint8Array {
  if (!(x instanceof Uint8Array)) throw new TypeError(`${what} must be a Uint8Array`);
  if (length !== null && x.length !== length) throw new Error(`${what} must be ${length} bytes, got ${x.length}`);
  return x;
}

export function chacha20poly1305(key: Uint8Array, nonce: Uint8Array, aad?: Uint8Array): { encrypt(p: Uint8Array): Uint8Array; decrypt(c: Uint8Array): Uint8Array } {
  const fast = wasm;
  if (!fast) return javascript(key, nonce, aad);
  // copied now: the caller may change its arrays after (age-encryption counts its STREAM nonce up in place)
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
      return fast.seal(plaintext, a, n, k);
    },
    decrypt(ciphertext) {
      bytes(ciphertext, null, "ciphertext");
      if (ciphertext.length < TAG_BYTES) throw new Error(`invalid ciphertext length: smaller than the ${TAG_BYTES}-byte tag`);
      try {
        return fast.open(ciphertext, a, n, k);
      } catch {
        throw new Error("invalid tag");
      }
    },
  };
}
