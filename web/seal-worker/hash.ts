/// <reference lib="webworker" />
import { createHash } from "sha256-uint8array";
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
 * The hash is `sha256-uint8array` (pure JavaScript, MIT, checked against Node's crypto and the
 * other JavaScript SHA-256s by its own tests): WebCrypto has no incremental hash and the page's
 * CSP allows no WebAssembly. It took 0.65-0.7 of @noble/hashes' CPU time per byte (Node 64 MiB,
 * same V8), and the hash was the slower of the two workers with @noble: it set the rate.
 */
serve<HashJob>("hash", async (job, r) => {
  const h = createHash();
  const reader = readFile(job.file, () => {}).getReader();
  r.watch(reader);
  for (;;) {
    const { done, value } = await reader.read();
    r.check();
    if (done) break;
    h.update(value);
    r.count(value.length);
  }
  return { type: "done", plain: r.plain, sha256: h.digest("hex") };
});
