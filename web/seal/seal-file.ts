import { SealError } from "../../client/seal/errors";
import type { Sha256Kind } from "../../client/seal/sha256";
import { sealedSize } from "../../client/seal/size";
import type { AeadKind } from "../seal-worker/chacha";
import type { FromWorker, ToWorker } from "../seal-worker/protocol";
import { SEAL_WORKERS } from "../shared/seal-workers";

/**
 * Seals one file into the OPFS spool off the page's thread (issue 23, "Sealing in Chromium
 * ≥ 50 MB/s"): two dedicated workers read the same File at the same time, /seal-encrypt.js
 * seals it with age-encryption's Encrypter into `dir`/`name` (synchronous OPFS writes), and
 * /seal-hash.js computes the plaintext's SHA-256. Before, both ran one after the other on the
 * page's thread (half the rate, and the page stalled). The result is what
 * `sealStream` + `writeSpoolFile` made: an age file of sealedSize(file.size, recipients.length)
 * bytes, and the plaintext's SHA-256 and size. This module is a lazy chunk (send-sealed.ts
 * loads it); the workers are their own scripts, fetched only when a file is sealed.
 */

export { SEAL_WORKERS };

export interface SealedToSpool {
  /** bytes of the age file written to the spool: always sealedSize(digest.size, recipients.length) */
  written: number;
  /** the plaintext's SHA-256 (hex) and size (= file.size) */
  digest: { sha256: string; size: number };
  /** which SHA-256 the hash worker ran ("wasm" where its CSP allows WebAssembly, else "js"): the bench and tests say it */
  hashedWith: Sha256Kind;
  /** which ChaCha20-Poly1305 age ran in the sealing worker ("wasm": libsodium's, else "js"; web/seal-worker/chacha.ts) */
  sealedWith: AeadKind;
}

/**
 * True for a failure that means the file changed, or went away, after it was chosen (a File is
 * a snapshot: Chromium fails its reads with NotReadableError; a size that differs from
 * file.size is a SealError `size_mismatch`): the send says so instead of a generic error.
 */
export function changedWhileSealing(err: unknown): boolean {
  const e = err as { name?: string; code?: string } | null;
  return e?.name === "NotReadableError" || e?.name === "NotFoundError" || (e instanceof SealError && e.code === "size_mismatch");
}

/**
 * True when a sealing worker could not start or broke down (its script could not be fetched, as
 * offline when it was never loaded, or it crashed): not the file's fault nor the keys'. The send
 * then seals on the page instead (send-sealed.ts), as it did before the workers.
 */
export function workerFailed(err: unknown): boolean {
  return (err as { name?: string } | null)?.name === WORKER_FAILED;
}
const WORKER_FAILED = "SealWorkerError";
const workerError = (message: string): Error => Object.assign(new Error(message), { name: WORKER_FAILED });

interface Pair {
  encrypt: Worker;
  hash: Worker;
}

/** A pair that finished its last file well, kept a little for the next file of the same send. */
let idle: Pair | null = null;
let idleTimer: ReturnType<typeof setTimeout> | undefined;
const IDLE_MS = 10_000;

function takePair(): Pair {
  clearTimeout(idleTimer);
  const p = idle;
  idle = null;
  return p ?? { encrypt: new Worker(SEAL_WORKERS.encrypt, { name: "pushdrop-seal" }), hash: new Worker(SEAL_WORKERS.hash, { name: "pushdrop-hash" }) };
}

function endPair(p: Pair): void {
  p.encrypt.terminate();
  p.hash.terminate();
}

function keepPair(p: Pair): void {
  if (idle) return endPair(p);
  idle = p;
  idleTimer = setTimeout(() => {
    if (idle === p) idle = null;
    endPair(p);
  }, IDLE_MS);
}

type Done = Extract<FromWorker, { type: "done" }>;

/** The error a worker's `failed` stands for (a SealError stays one: its code says which rule broke). */
function errorOf(m: Extract<FromWorker, { type: "failed" }>): Error {
  if (m.name === "SealError" && m.code) return new SealError(m.code as SealError["code"], m.message);
  const e = new Error(m.message);
  e.name = m.name;
  return e;
}

/**
 * Seals `file` to `recipients` (age X25519 `age1…`, at least one, none twice) into a new file
 * `name` of the spool folder `dir` (replacing one of that name), and resolves with the bytes
 * written and the plaintext's SHA-256 and size. `onProgress` is called with the plaintext bytes
 * both workers have got through so far (a running total, not an increment). Rejects, with
 * nothing left in the spool under `name`, when the file cannot be read or changed size
 * (changedWhileSealing(err)), a recipient is not an X25519 one (SealError `bad_recipient`), the
 * spool cannot be written, a worker cannot start, or `signal` aborts (AbortError).
 */
export async function sealFileToSpool(
  file: File,
  recipients: readonly string[],
  dir: FileSystemDirectoryHandle,
  name: string,
  onProgress?: (bytes: number) => void,
  signal?: AbortSignal,
): Promise<SealedToSpool> {
  signal?.throwIfAborted();
  const pair = takePair();
  const done: { encrypt?: Done; hash?: Done } = {};
  const seen = { encrypt: 0, hash: 0 };
  let shown = 0;
  let finished = false;
  let encryptSettled: () => void = () => {};
  const encryptEnded = new Promise<void>((r) => (encryptSettled = r));
  let onAbort = () => {};

  const result = new Promise<SealedToSpool>((resolve, reject) => {
    const fail = (e: Error) => {
      if (finished) return;
      finished = true;
      reject(e);
    };
    const listen = (role: "encrypt" | "hash") => {
      const w = pair[role];
      w.onmessage = (ev: MessageEvent<FromWorker>) => {
        const m = ev.data;
        if (m.type === "progress") {
          seen[role] = m.plain;
          const both = Math.min(seen.encrypt, seen.hash);
          if (both > shown && !finished) {
            shown = both;
            onProgress?.(both);
          }
          return;
        }
        if (role === "encrypt") encryptSettled();
        if (m.type === "failed") return fail(errorOf(m));
        done[role] = m;
        if (!done.encrypt || !done.hash || finished) return;
        const size = file.size;
        const written = done.encrypt.written ?? -1;
        if (done.encrypt.plain !== size || done.hash.plain !== size)
          return fail(new SealError("size_mismatch", `${file.name} changed while it was sealed: ${done.encrypt.plain} bytes sealed and ${done.hash.plain} hashed, ${size} expected`));
        if (written !== sealedSize(size, recipients.length)) return fail(new Error(`the sealed file came out ${written} bytes, not ${sealedSize(size, recipients.length)}`));
        finished = true;
        if (size > shown) onProgress?.(size);
        resolve({ written, digest: { sha256: done.hash.sha256!, size }, hashedWith: done.hash.hashedWith ?? "js", sealedWith: done.encrypt.sealedWith ?? "js" });
      };
      w.onerror = (ev) => {
        ev.preventDefault();
        if (role === "encrypt") encryptSettled();
        fail(workerError(`the sealing worker ${SEAL_WORKERS[role]} failed: ${ev.message || "it could not start"}`));
      };
      w.onmessageerror = () => fail(workerError(`the sealing worker ${SEAL_WORKERS[role]} sent what could not be read`));
    };
    listen("encrypt");
    listen("hash");
    onAbort = () => fail(signal!.reason instanceof Error ? signal!.reason : new DOMException("sealing was stopped", "AbortError"));
    signal?.addEventListener("abort", onAbort, { once: true });
    const jobs: { encrypt: ToWorker; hash: ToWorker } = {
      encrypt: { type: "encrypt", file, recipients: [...recipients], dir, name },
      hash: { type: "hash", file },
    };
    try {
      pair.encrypt.postMessage(jobs.encrypt);
      pair.hash.postMessage(jobs.hash);
    } catch (e) {
      fail(e as Error);
    }
  });

  try {
    const r = await result;
    signal?.removeEventListener("abort", onAbort);
    keepPair(pair);
    return r;
  } catch (e) {
    signal?.removeEventListener("abort", onAbort);
    // stop both; the encrypt worker closes and removes its spool file, then says so (or is
    // cut short after a while), and whatever of `name` is left is removed here too
    const abort: ToWorker = { type: "abort" };
    pair.encrypt.postMessage(abort);
    pair.hash.postMessage(abort);
    await Promise.race([encryptEnded, new Promise((r) => setTimeout(r, 5000))]);
    endPair(pair);
    await dir.removeEntry(name).catch(() => {});
    throw e;
  }
}
