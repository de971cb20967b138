/// <reference lib="webworker" />
import { createHash } from "sha256-uint8array";
import { readFile } from "./read";
import { PROGRESS_EVERY, type FromWorker, type HashJob, type ToWorker } from "./protocol";

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
declare const self: DedicatedWorkerGlobalScope;

let aborted = false;
let stop: (() => void) | null = null;
const say = (m: FromWorker) => self.postMessage(m);

self.onmessage = (ev: MessageEvent<ToWorker>) => {
  const m = ev.data;
  if (m.type === "abort") {
    aborted = true;
    stop?.();
  } else if (m.type === "hash") {
    aborted = false;
    void run(m);
  }
};

async function run(job: HashJob): Promise<void> {
  try {
    const h = createHash();
    let plain = 0;
    let said = 0;
    const reader = readFile(job.file, () => {}).getReader();
    stop = () => void reader.cancel().catch(() => {});
    for (;;) {
      const { done, value } = await reader.read();
      if (aborted) throw new DOMException("sealing was stopped", "AbortError");
      if (done) break;
      h.update(value);
      plain += value.length;
      if (plain - said >= PROGRESS_EVERY) {
        said = plain;
        say({ type: "progress", plain });
      }
    }
    stop = null;
    say({ type: "done", plain, sha256: h.digest("hex") });
  } catch (err) {
    const e = err as { name?: string; message?: string };
    say({ type: "failed", name: e?.name ?? "Error", message: e?.message ?? String(err) });
  }
}
