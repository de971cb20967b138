import { createHash as jsSha256 } from "sha256-uint8array";

/**
 * An incremental SHA-256, as fast as the runtime allows (a sealed file's plaintext is hashed
 * while it is sealed or opened: the hash is half the work):
 *  - "node": Node's native hash (the CLI; the JavaScript hash kept sealing at 29–43 % of age's rate);
 *  - "wasm": hash-wasm's WebAssembly SHA-256 (MIT), for scripts whose Content-Security-Policy allows
 *    WebAssembly ('wasm-unsafe-eval': /seal-hash.js and /sw.js, public/_headers) and that say so
 *    with allowWasmSha256(). In Chromium 156 here it hashed 130–190 MB/s, sha256-uint8array 57–63;
 *  - "js": sha256-uint8array (MIT, pure JavaScript), everywhere else: the page's own CSP allows no
 *    WebAssembly, and WebCrypto has no incremental hash.
 * Node's module is looked up at run time (process.getBuiltinModule, Node ≥ 20.16), so bundles
 * for the browser never import it.
 */
export interface Sha256 {
  update(bytes: Uint8Array): void;
  hex(): string;
  /** which one it is */
  kind: Sha256Kind;
}

export type Sha256Kind = "node" | "wasm" | "js";

interface NodeCrypto {
  createHash(alg: "sha256"): { update(b: Uint8Array): unknown; digest(enc: "hex"): string };
}

/** "off" until a script allows it; "refused" once WebAssembly failed to start here (then never tried again). */
let wasm: "off" | "allowed" | "refused" = "off";

/** Said by a script whose CSP allows WebAssembly: its hashes use hash-wasm from then on. */
export function allowWasmSha256(): void {
  if (wasm === "off") wasm = "allowed";
}

/** A new hasher of the fastest kind here, or of `kind` (tests compare them). */
export async function sha256Hasher(kind?: Sha256Kind): Promise<Sha256> {
  const node = kind === undefined || kind === "node" ? nodeCrypto() : undefined;
  if (node) {
    const h = node.createHash("sha256");
    return { update: (b) => void h.update(b), hex: () => h.digest("hex"), kind: "node" };
  }
  if (kind === "wasm" || (kind === undefined && wasm === "allowed")) {
    try {
      // loaded only here: the page's chunks never carry it (a lazy chunk of its own there, never fetched)
      const { createSHA256 } = await import("./sha256-wasm");
      const h = await createSHA256();
      return { update: (b) => void h.update(b), hex: () => h.digest("hex"), kind: "wasm" };
    } catch (e) {
      if (kind === "wasm") throw e;
      wasm = "refused"; // a CSP that allows no WebAssembly after all: the JavaScript hash, as the page
    }
  }
  const h = jsSha256();
  return { update: (b) => void h.update(b), hex: () => h.digest("hex"), kind: "js" };
}

function nodeCrypto(): NodeCrypto | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  return proc?.getBuiltinModule?.("node:crypto") as NodeCrypto | undefined;
}
