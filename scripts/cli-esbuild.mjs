// What the CLI's bundles share (scripts/build-cli.mjs, and the bench's harness of the CLI's own code).
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/**
 * age-encryption's ChaCha20-Poly1305 from OpenSSL (cli/chacha-openssl.ts: node:crypto, the same
 * RFC 8439 AEAD) in place of @noble/ciphers' JavaScript one, which bound the CLI's sealing and
 * opening to about 64–150 MB/s. Only age-encryption's own imports are redirected; the web app's
 * bundles (browsers have no ChaCha20 in WebCrypto) keep @noble/ciphers.
 */
export const opensslChacha = {
  name: "openssl-chacha20poly1305",
  setup(build) {
    build.onResolve({ filter: /^@noble\/ciphers\/chacha\.js$/ }, (args) =>
      args.importer.split(path.sep).includes("age-encryption") ? { path: path.join(root, "cli", "chacha-openssl.ts") } : undefined,
    );
  },
};
