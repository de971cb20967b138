import type { File as WireFile, Transfer, TransferStatus } from "../src/contract";
import type { PushdropClient, PutFn } from "./api";
import { ApiError, isTransient, retryDelayMs } from "./errors";

/**
 * Uploading a transfer's files: every part that the server does not have yet (per
 * `partsReceived`), a few at a time, each retried on a dropped connection or a server fault.
 * A part the server has is never sent again, so calling this again after any interruption
 * (a crash, a closed tab, a lost network) resumes where the server stands.
 */

export interface UploadProgress {
  /** bytes the server has, or that are on their way, per file index */
  files: number[];
  sent: number;
  total: number;
  /** file indexes whose bytes are all in */
  done: Set<number>;
}

export interface UploadOptions {
  /** parts in flight at once (default 3) */
  concurrency?: number;
  /** tries per part before giving up (default 6) */
  tries?: number;
  signal?: AbortSignal;
  put?: PutFn;
  onProgress?: (p: UploadProgress) => void;
  /** told of every part actually sent (for logs and tests) */
  onPart?: (index: number, part: number) => void;
  /** waits between tries; a test may shorten them */
  backoffMs?: (attempt: number) => number;
  /**
   * For a file still being written while it uploads (the CLI seals a file into its spool while
   * the parts already sealed go up): resolves once the first `end` bytes of file `index` can be
   * read; each part waits for it before it is sent. Rejects when they never will be.
   */
  ready?: (index: number, end: number) => Promise<void>;
}

export interface UploadResult {
  status: TransferStatus;
  /** parts sent by this call (those the server had were skipped) */
  partsSent: number;
}

interface Task {
  file: WireFile;
  part: number | null;
  start: number;
  end: number;
}

/** The parts of each file that the server does not have yet. */
export function missingParts(transfer: Pick<Transfer, "files">): Array<{ file: WireFile; part: number | null; start: number; end: number }> {
  const tasks: Task[] = [];
  for (const f of transfer.files) {
    if (f.size === 0 || f.received >= f.size) continue;
    const have = new Set(f.partsReceived);
    for (let n = 1; n <= f.parts; n++) {
      if (have.has(n)) continue;
      const start = (n - 1) * f.partSize;
      tasks.push({ file: f, part: f.parts === 1 ? null : n, start, end: Math.min(f.size, start + f.partSize) });
    }
  }
  return tasks;
}

export async function uploadFiles(
  client: PushdropClient,
  transfer: Transfer,
  sources: readonly Blob[],
  opts: UploadOptions = {},
): Promise<UploadResult> {
  if (sources.length !== transfer.files.length) throw new Error(`${transfer.files.length} files declared, ${sources.length} given`);
  transfer.files.forEach((f, i) => {
    if (sources[i]!.size !== f.size) throw new Error(`file ${i} (${f.name}) is ${sources[i]!.size} bytes now, ${f.size} when the transfer was made`);
  });
  const tasks = missingParts(transfer);
  const progress: UploadProgress = {
    files: transfer.files.map((f) => f.received),
    sent: transfer.files.reduce((s, f) => s + f.received, 0),
    total: transfer.files.reduce((s, f) => s + f.size, 0),
    done: new Set(transfer.files.filter((f) => f.received >= f.size).map((f) => f.index)),
  };
  const inFlight = new Map<Task, number>();
  const report = () => opts.onProgress?.(progress);
  report();

  let status: TransferStatus = transfer.status;
  let partsSent = 0;
  let failure: unknown = null;
  const abort = new AbortController();
  const onOuterAbort = () => abort.abort(opts.signal?.reason);
  opts.signal?.addEventListener("abort", onOuterAbort);
  const backoff = opts.backoffMs ?? ((a: number) => Math.min(30_000, 1000 * 2 ** (a - 1)));
  const queue = [...tasks];
  /** where the server stands, asked once: after a 409 not_uploading (see runOne) */
  let standing: Promise<Transfer | null> | null = null;
  const whole = async (): Promise<Transfer | null> => {
    standing ??= client.transfer(transfer.id).then(
      (now) => (isWhole(now) ? now : null),
      () => null,
    );
    return standing;
  };

  const account = (t: Task, sent: number) => {
    const before = inFlight.get(t) ?? 0;
    inFlight.set(t, sent);
    progress.files[t.file.index]! += sent - before;
    progress.sent += sent - before;
    report();
  };

  const runOne = async (t: Task) => {
    if (opts.ready) await untilAborted(opts.ready(t.file.index, t.end), abort.signal);
    for (let attempt = 1; ; attempt++) {
      try {
        opts.onPart?.(t.file.index, t.part ?? 1);
        const res = await client.putPart(t.file, t.part, sources[t.file.index]!.slice(t.start, t.end), {
          signal: abort.signal,
          put: opts.put,
          onProgress: (sent) => account(t, Math.min(sent, t.end - t.start)),
        });
        account(t, t.end - t.start);
        inFlight.delete(t);
        partsSent++;
        status = res.status;
        if (res.file.received >= res.file.size) progress.done.add(t.file.index);
        report();
        return;
      } catch (e) {
        account(t, 0);
        if (e instanceof ApiError && e.code === "file_complete") {
          progress.done.add(t.file.index);
          return; // the server has the whole file (another client, or an earlier try that got through)
        }
        // A part sent again because its answer was lost (the bytes got through): when it was
        // the last one the server needed, the transfer went on to packaging and the resend is
        // refused. That is done, not an error, if the server shows every part received.
        if (e instanceof ApiError && e.code === "not_uploading") {
          const now = await whole();
          if (now) {
            account(t, t.end - t.start);
            inFlight.delete(t);
            status = now.status;
            progress.done.add(t.file.index);
            report();
            return;
          }
        }
        if (!isTransient(e) || attempt >= (opts.tries ?? 6) || abort.signal.aborted) throw e;
        await sleep(retryDelayMs(e, backoff(attempt)), abort.signal);
      }
    }
  };

  const worker = async () => {
    while (queue.length > 0 && failure === null) {
      const t = queue.shift()!;
      try {
        await runOne(t);
      } catch (e) {
        if (failure === null) failure = e;
        abort.abort(e);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.concurrency ?? 3, tasks.length)) }, worker));
  } finally {
    opts.signal?.removeEventListener("abort", onOuterAbort);
  }
  if (failure !== null) throw opts.signal?.aborted ? (opts.signal.reason ?? failure) : failure;
  if (tasks.length === 0) status = (await client.transfer(transfer.id)).status;
  return { status, partsSent };
}

/**
 * Whether the server has every part of every file and has taken the transfer on (packaging,
 * ready or delivered): an upload of it is done, whatever a resend was answered.
 */
export function isWhole(t: Pick<Transfer, "status" | "files">): boolean {
  return (
    (t.status === "packaging" || t.status === "ready" || t.status === "delivered") &&
    t.files.every((f) => f.size === 0 || f.received >= f.size || f.partsReceived.length >= f.parts)
  );
}

/** Creates nothing: fetches where the server stands and sends what is missing. */
export async function resumeUpload(client: PushdropClient, transferId: string, sources: readonly Blob[], opts: UploadOptions = {}): Promise<UploadResult> {
  return uploadFiles(client, await client.transfer(transferId), sources, opts);
}

/**
 * `p`, or the signal's reason as soon as it is aborted. Its abort listener goes as soon as either
 * settles: one left per part would pile up on the upload's signal (Node warns from 11 on).
 */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    p.catch(() => undefined); // (its failure now is nobody's error)
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}

/** Waits `ms`, or rejects with the signal's reason as soon as it is aborted. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", stop);
      resolve();
    }, ms);
    const stop = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", stop, { once: true });
  });
}
