import { chacha20poly1305 as javascript } from "@noble/ciphers/chacha.js";
import { chachaFrom, type AeadPrimitive, type Chacha20Poly1305 } from "../../client/seal/aead";

/**
 * ChaCha20-Poly1305 (RFC 8439) for age-encryption in the sealing and service workers, in the shape of
 * @noble/ciphers' `chacha20poly1305(key, nonce, aad?)`: libsodium's WebAssembly one once
 * `loadWasmAead` loaded it (/seal-aead.js: libsodium-wrappers, by libsodium's author), else
 * @noble/ciphers' JavaScript one. scripts/build-web.mjs gives age-encryption this module in
 * place of @noble/ciphers in /seal-encrypt.js and /sw-seal.js (as the CLI's build gives it
 * OpenSSL's); the shape and its promises are client/seal/aead.ts's.
 *
 * Browsers' WebCrypto has no ChaCha20; @noble/ciphers' runs about
 * 95–100 MB/s in V8 here, libsodium's about 300 (64 KiB chunks, as age's). Checked equal to
 * @noble/ciphers byte for byte, tampering included, by test/cli/chacha-sodium.test.ts; a loaded
 * libsodium is also checked against @noble/ciphers once before it is used.
 */

export type AeadKind = "wasm" | "js";

/** libsodium's, in age's shape, once it checked out; null: @noble/ciphers' */
let wasm: Chacha20Poly1305 | null = null;

/** Uses `aead` from now on, once it gives what @noble/ciphers gives on a test message (else keeps JavaScript's). */
export function useWasmAead(aead: AeadPrimitive): AeadKind {
  const key = Uint8Array.from({ length: 32 }, (_, i) => i * 7 + 1);
  const nonce = Uint8Array.from({ length: 12 }, (_, i) => 200 - i);
  const message = Uint8Array.from({ length: 300 }, (_, i) => (i * 31) & 255);
  const want = javascript(key, nonce).encrypt(message);
  const got = aead.seal(message, null, nonce, key);
  const same = got.length === want.length && got.every((b, i) => b === want[i]);
  wasm = same ? chachaFrom(aead) : null;
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
    const scope = globalThis as unknown as { importScripts(url: string): void } & Record<string, Promise<AeadPrimitive> | undefined>;
    // (imported already: a service worker imports it while it installs)
    if (!scope[WASM_AEAD_GLOBAL]) scope.importScripts(url);
    const aead = await scope[WASM_AEAD_GLOBAL];
    return aead ? useWasmAead(aead) : "js";
  } catch {
    return "js";
  }
}

export const chacha20poly1305: Chacha20Poly1305 = (key, nonce, aad) => (wasm ?? javascript)(key, nonce, aad);
