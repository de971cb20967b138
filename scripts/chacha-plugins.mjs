// Where age-encryption's ChaCha20-Poly1305 comes from in our bundles: esbuild plugins that give
// its `@noble/ciphers/chacha.js` import another module of the same shape. Only age-encryption's own
// import is redirected (the replacements fall back on, or are checked against, @noble/ciphers).
// Used by scripts/build-cli.mjs, scripts/build-web.mjs and the benches that build the same code.
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** `module` in place of @noble/ciphers/chacha.js, for age-encryption's imports only. */
function chachaFrom(name, module) {
  return {
    name,
    setup(build) {
      build.onResolve({ filter: /^@noble\/ciphers\/chacha\.js$/ }, (args) =>
        args.importer.split(path.sep).includes("age-encryption") ? { path: module } : undefined,
      );
    },
  };
}

/**
 * age-encryption's ChaCha20-Poly1305 from OpenSSL (cli/chacha-openssl.ts: node:crypto, the same
 * RFC 8439 AEAD) in place of @noble/ciphers' JavaScript one, which bound the CLI's sealing and
 * opening to about 64–150 MB/s. Only age-encryption's own imports are redirected; the web app's
 * bundles (browsers have no ChaCha20 in WebCrypto) keep @noble/ciphers.
 */
export const opensslChacha = chachaFrom("openssl-chacha20poly1305", path.join(root, "cli", "chacha-openssl.ts"));

/**
 * In the sealing worker (/seal-encrypt.js): web/seal-worker/chacha.ts, libsodium's WebAssembly
 * ChaCha20-Poly1305 once /seal-aead.js loaded (about 3× @noble/ciphers' rate in V8), else
 * @noble/ciphers' own.
 */
export const wasmChacha = chachaFrom("wasm-chacha20poly1305", path.join(root, "web", "seal-worker", "chacha.ts"));
