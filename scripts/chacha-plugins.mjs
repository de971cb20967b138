// Where age-encryption's ChaCha20-Poly1305 comes from in our bundles: esbuild plugins that give
// its `@noble/ciphers/chacha.js` import another module of the same shape. Only age-encryption's own
// import is redirected (the replacements fall back on, or are checked against, @noble/ciphers).
// Used by scripts/build-cli.mjs, scripts/build-web.mjs and the benches that build the same code.
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/**
 * `module` in place of @noble/ciphers' ChaCha, for age-encryption's own imports only (the
 * replacement's own import of @noble/ciphers stays @noble/ciphers). A build that bundles
 * age-encryption but redirected none of its imports fails, so a new age-encryption that imports
 * it otherwise cannot silently keep the JavaScript one.
 */
function chachaFrom(name, module) {
  return {
    name,
    setup(build) {
      let redirected = 0;
      let bundlesAge = false;
      build.onResolve({ filter: /^@noble\/ciphers\/chacha(\.js)?$/ }, (args) => {
        const from = args.importer.split(path.sep).join("/");
        if (args.importer === module || !from.includes("/node_modules/age-encryption/")) return undefined;
        redirected++;
        return { path: module };
      });
      build.onLoad({ filter: /[\\/]node_modules[\\/]age-encryption[\\/].*\.js$/ }, () => {
        bundlesAge = true;
        return undefined;
      });
      build.onEnd((result) => {
        if (bundlesAge && redirected === 0 && result.errors.length === 0)
          return { errors: [{ text: `${name}: age-encryption is bundled but none of its imports of @noble/ciphers/chacha.js was redirected to ${path.relative(root, module)}` }] };
        return undefined;
      });
    },
  };
}

/**
 * In the CLI: age-encryption's ChaCha20-Poly1305 from OpenSSL (cli/chacha-openssl.ts: node:crypto,
 * the same RFC 8439 AEAD) in place of @noble/ciphers' JavaScript one, which bound the CLI's sealing
 * and opening to about 64–150 MB/s.
 */
export const opensslChacha = chachaFrom("openssl-chacha20poly1305", path.join(root, "cli", "chacha-openssl.ts"));

/**
 * In the sealing worker (/seal-encrypt.js) and the service worker's sealed part (/sw-seal.js):
 * web/seal-worker/chacha.ts, libsodium's WebAssembly ChaCha20-Poly1305 once /seal-aead.js loaded
 * (about 3× @noble/ciphers' rate in V8), else @noble/ciphers' own.
 */
export const wasmChacha = chachaFrom("wasm-chacha20poly1305", path.join(root, "web", "seal-worker", "chacha.ts"));
