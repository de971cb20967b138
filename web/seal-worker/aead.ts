/// <reference lib="webworker" />
import { WASM_AEAD_GLOBAL } from "./chacha";
import { sodiumAead } from "./sodium";

/**
 * /seal-aead.js: libsodium's ChaCha20-Poly1305 (WebAssembly), loaded with importScripts by
 * /seal-encrypt.js when it starts and by the service worker's sealed part when it first opens a
 * file (web/seal-worker/chacha.ts loadWasmAead). A script of its own (about 150 KB gzipped:
 * libsodium whole) with a budget of its own; its WebAssembly runs in the worker that loads it,
 * whose policy allows it (public/_headers).
 */
(self as unknown as Record<string, unknown>)[WASM_AEAD_GLOBAL] = sodiumAead();
