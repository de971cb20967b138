/**
 * hash-wasm's SHA-256 alone (a named import, so bundles keep only it), loaded by sha256.ts with
 * import() when a script allows WebAssembly: the page's chunks never carry it.
 */
export { createSHA256 } from "hash-wasm";
