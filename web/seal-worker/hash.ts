/// <reference lib="webworker" />
import { allowWasmSha256, sha256Hasher } from "../../client/seal/sha256";
import { readFile } from "./read";
import type { HashJob } from "./protocol";
import { serve } from "./serve";

/**
 * /seal-hash.js, a dedicated worker (web/seal/seal-file.ts starts one per sealed file): the
 * SHA-256 of a File's bytes, read as a stream of its own while
 * /seal-encrypt.js seals the same File in another worker. A File is a snapshot: one changed or
 * deleted since it was chosen fails to read (NotReadableError), and the page checks both
 * workers' byte counts against file.size.
 *
 * The hash is hash-wasm's WebAssembly SHA-256 (client/seal/sha256.ts): this script's own CSP
 * allows WebAssembly ('wasm-unsafe-eval', public/_headers; the page's does not). In Chromium 156
 * here it hashed 130–190 MB/s where sha256-uint8array (pure JavaScript) did 57–63, and with the
 * JavaScript hash this worker took 3.7–4.0 s of CPU per 256 MiB, nearly the age worker's 4.4–4.7:
 * on two cores the pair could not reach 50 MB/s. Should WebAssembly be refused, it hashes with
 * sha256-uint8array as before.
 */
allowWasmSha256();

serve<HashJob>("hash", async (job, r) => {
  const h = await sha256Hasher();
  const reader = readFile(job.file, () => {}).getReader();
  r.watch(reader);
  for (;;) {
    const { done, value } = await reader.read();
    r.check();
    if (done) break;
    h.update(value);
    r.count(value.length);
  }
  return { type: "done", plain: r.plain, sha256: h.hex(), hashedWith: h.kind };
});
