import type { Plugin } from "esbuild";
/** age-encryption's ChaCha20-Poly1305 from OpenSSL (cli/chacha-openssl.ts), in the CLI's bundles. */
export const opensslChacha: Plugin;
/** age-encryption's ChaCha20-Poly1305 from libsodium's WebAssembly, else @noble/ciphers (web/seal-worker/chacha.ts), in the sealing and service workers. */
export const wasmChacha: Plugin;
