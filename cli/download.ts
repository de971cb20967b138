import { createHash, type Hash } from "node:crypto";
import { Worker } from "node:worker_threads";
import { constants, lstatSync } from "node:fs";
import { lstat, open, type FileHandle } from "node:fs/promises";
import { Readable } from "node:stream";
import type { ReadableStream as NodeWebStream } from "node:stream/web";
import { ApiError, NetworkError, isTransient, retryDelayMs, sleep, type PushdropClient } from "../client";
import type { DownloadRequestOptions } from "../client/api";
import { readerOf, type Incoming } from "./http";
import { integrityError } from "./exit";
import { shown } from "./sanitize";

/**
 * A download into a `.part` file that survives being killed: run again, it asks for the rest
 * with `Range: bytes=<what is on disk>-` and `If-Range: <ETag>` (so bytes of another version
 * are never glued on), and at the end checks the whole file's sha256. A dropped connection or
 * a server fault is retried in the same run from where the file stands.
 *
 * The `.part` file sits in a folder others may write to (a shared Downloads folder), so it is
 * never reached through a symbolic link: it is opened once per call with `O_NOFOLLOW` (a link
 * there is an error, not a target), created with `O_CREAT|O_EXCL` when it is not there, and a
 * file that was there (a resume) must be a regular file with one link whose `fstat` is the
 * `lstat` of the path (same device and inode): not a FIFO, a device, a hard link to a file
 * elsewhere, or something swapped in between. Every size, write and truncation after that goes
 * through the open descriptor, never the path.
 */

export interface DownloadOptions {
  /** bytes expected in all */
  size: number;
  /** hex sha256 the bytes must have; also the resource's ETag ("<sha256>") */
  sha256: string;
  signal?: AbortSignal;
  /** bytes on disk so far */
  onProgress?: (bytes: number) => void;
  /**
   * told where a try starts, and how many of the bytes on disk it read back to hash (0 when
   * the bytes were hashed as an earlier try of this call wrote them) (for logs and tests)
   */
  onStart?: (offset: number, rehashed: number) => void;
  /** told before each wait to try again: how many tries have failed, the wait, the server's status (null: no answer) */
  onRetry?: (attempt: number, delayMs: number, status: number | null) => void;
  /**
   * where the bytes go: by default the `.part` itself (PartStore); cli/onepass.ts puts each file
   * of a package at its place as it comes. Given the `.part`, opened as below.
   */
  store?: (part: FileHandle) => Store;
  tries?: number;
  backoffMs?: (attempt: number) => number;
  /**
   * sends the request (client.download's) and answers its body as a Node stream: the CLI gives
   * cli/http.ts `nodeDownload` (node:http); by default `client.download` (fetch), its web body
   * read through Readable.fromWeb
   */
  get?: GetFn;
}

export type GetFn = (client: PushdropClient, pathOrUrl: string, opts: DownloadRequestOptions) => Promise<Incoming>;

/** `client.download` (fetch): its body as a Node stream. */
export const viaFetch: GetFn = async (client, pathOrUrl, opts) => {
  const res = await client.download(pathOrUrl, opts);
  return { status: res.status, headers: res.headers, body: readerOf(res.body ? Readable.fromWeb(res.body as NodeWebStream<Uint8Array>) : Readable.from([])) };
};

export interface DownloadResult {
  /** bytes that were already on disk when this call began */
  resumedFrom: number;
}

/**
 * The sha256 of the first `bytes` bytes of the `.part` file, carried from one try to the next:
 * a retry after 9 GiB goes on from there instead of reading the 9 GiB back to hash them again.
 * A chunk is hashed once it is written (never ahead of the file), so a break leaves the two in
 * step; a new run (or a file changed under us) reads back what is on disk.
 */
interface Hashed {
  hash: Sha256;
  bytes: number;
}

/** Bytes [start, end) of the resource. */
export interface Range {
  start: number;
  end: number;
}

/**
 * The SHA-256 of the whole resource and, besides, of some ranges of it (a plain package's files:
 * Store.ranges), over the bytes in order from byte 0. For a large download it is computed on a
 * worker thread, so that hashing (about 1 s per GiB and per hash here) runs beside the main
 * thread's network and disk instead of after them. Each batch is copied once into a ring of
 * SharedArrayBuffer slots (reused: no allocation per batch, nothing on its way to the worker is
 * copied again), and the worker hashes each slot whole and each range's part of it; `update`
 * waits for a free slot, so at most RING × SLOT bytes wait to be hashed. Node's native hash
 * either way (node:crypto).
 */
interface Sha256 {
  /** resolves once the bytes are taken (copied, or hashed) */
  update(chunks: readonly Buffer[], bytes: number): Promise<void>;
  /**
   * a buffer for the resource's next bytes, read straight into it (waits while every slot of
   * the ring waits to be hashed); each is given back by `hashed` or `unused`
   */
  take(): Promise<Slot>;
  /** the slot's first `bytes` bytes are the resource's next ones (and in the store): hashes them, then frees it */
  hashed(slot: Slot, bytes: number): void;
  /** gives a slot back without its bytes */
  unused(slot: Slot): void;
  digest(): Promise<Digests>;
  close(): void;
}

/** one of the ring's buffers (`k`), or a buffer of its own (k: -1) */
interface Slot {
  k: number;
  buf: Buffer;
}

/** hex: the whole resource's SHA-256, and each range's (in the order of the ranges) */
interface Digests {
  whole: string;
  ranges: string[];
}

/**
 * Where the ranges meet bytes [at, at + n) of the resource: [range, from, to] with from and to
 * relative to `at`. The ranges are in order and do not overlap; the bytes come in order, so the
 * ranges wholly before them are passed once and for all.
 */
export class RangeCursor {
  private next = 0;
  constructor(private readonly ranges: readonly Range[]) {}

  sections(at: number, n: number): Array<[number, number, number]> {
    const out: Array<[number, number, number]> = [];
    const r = this.ranges;
    while (this.next < r.length && r[this.next]!.end <= at) this.next++;
    for (let j = this.next; j < r.length && r[j]!.start < at + n; j++) {
      const from = Math.max(r[j]!.start, at);
      const to = Math.min(r[j]!.end, at + n);
      if (to > from) out.push([j, from - at, to - at]);
    }
    return out;
  }
}

const SLOT = 2 * 1024 * 1024;
const RING = 8;
/** downloads smaller than this hash on the main thread (a worker takes some 30 ms to start) */
const OFF_THREAD_FROM = 32 * 1024 * 1024;

function mainThreadHash(ranges: readonly Range[]): Sha256 {
  const h: Hash = createHash("sha256");
  const hs = ranges.map(() => createHash("sha256"));
  const cursor = new RangeCursor(ranges);
  let at = 0;
  const update = (c: Buffer) => {
    h.update(c);
    for (const [j, from, to] of cursor.sections(at, c.length)) hs[j]!.update(c.subarray(from, to));
    at += c.length;
  };
  return {
    update: async (chunks) => chunks.forEach(update),
    // (a small download: a buffer of its own each time, hashed at once)
    take: async () => ({ k: -1, buf: Buffer.allocUnsafe(BATCH) }),
    hashed: (slot, bytes) => update(slot.buf.subarray(0, bytes)),
    unused: () => undefined,
    digest: async () => ({ whole: h.digest("hex"), ranges: hs.map((x) => x.digest("hex")) }),
    close: () => undefined,
  };
}

const HASH_WORKER = `
const { parentPort, workerData } = require("node:worker_threads");
const { createHash } = require("node:crypto");
const h = createHash("sha256");
const hs = Array.from({ length: workerData.ranges }, () => createHash("sha256"));
const slots = workerData.ring.map((b) => new Uint8Array(b));
parentPort.on("message", (m) => {
  if (m === null) return parentPort.postMessage({ digest: { whole: h.digest("hex"), ranges: hs.map((x) => x.digest("hex")) } });
  const slot = slots[m.slot];
  h.update(slot.subarray(0, m.bytes));
  for (const [j, from, to] of m.sections) hs[j].update(slot.subarray(from, to));
  parentPort.postMessage({ free: m.slot });
});`;

function workerHash(ranges: readonly Range[]): Sha256 {
  const ring = Array.from({ length: RING }, () => new SharedArrayBuffer(SLOT));
  const views = ring.map((b) => Buffer.from(b));
  const cursor = new RangeCursor(ranges);
  /** where the slot being filled begins, in the resource */
  let slotAt = 0;
  const worker = new Worker(HASH_WORKER, { eval: true, workerData: { ring, ranges: ranges.length } }); // (ended by close(), in downloadToFile's finally)
  const free = ring.map((_, k) => k);
  let wake: (() => void) | null = null;
  let failed: unknown = null;
  let digest: ((d: Digests) => void) | null = null;
  worker.on("message", (m: { free?: number; digest?: Digests }) => {
    if (m.free !== undefined) {
      free.push(m.free);
      wake?.();
    } else if (m.digest !== undefined) digest?.(m.digest);
  });
  worker.on("error", (e) => {
    failed = e;
    wake?.();
  });
  const slot = async (): Promise<number> => {
    while (free.length === 0 && !failed) await new Promise<void>((r) => (wake = r));
    wake = null;
    if (failed) throw failed;
    return free.shift()!;
  };
  const post = (k: number, used: number) => {
    worker.postMessage({ slot: k, bytes: used, sections: cursor.sections(slotAt, used) });
    slotAt += used;
  };
  return {
    update: async (chunks) => {
      let k = -1;
      let used = 0;
      for (const c of chunks) {
        for (let off = 0; off < c.length; ) {
          if (k === -1) k = await slot();
          const n = Math.min(c.length - off, SLOT - used);
          views[k]!.set(c.subarray(off, off + n), used);
          used += n;
          off += n;
          if (used === SLOT) {
            post(k, used);
            k = -1;
            used = 0;
          }
        }
      }
      if (k !== -1) post(k, used);
    },
    take: async () => {
      const k = await slot();
      return { k, buf: views[k]! };
    },
    hashed: (s, bytes) => post(s.k, bytes),
    unused: (s) => {
      free.unshift(s.k);
      wake?.();
    },
    digest: () =>
      new Promise<Digests>((resolve, reject) => {
        if (failed) return reject(failed);
        digest = resolve;
        worker.once("error", reject);
        worker.postMessage(null);
      }),
    close: () => void worker.terminate(),
  };
}

/**
 * Where a download's bytes are kept. Written in order, in batches of about BATCH bytes; the
 * download hashes what `write` took once it resolves, so the hash never runs ahead of the disk.
 */
export interface Store {
  /** bytes held so far: where the download resumes */
  size(): Promise<number>;
  /**
   * the bytes from `at` on (`bytes` in all), in order; resolves once they are where they belong.
   * The chunks are lent: the download reads new bytes into them once this resolves, so a store
   * that keeps any of them past that keeps a copy
   */
  write(chunks: readonly Buffer[], bytes: number, at: number): Promise<void>;
  /**
   * reads the first `n` bytes back, once, giving each piece to `onBytes` in order (a new run's
   * resume); resolves with `n`, or 0 when what it holds could not be read back (it started over)
   */
  replay(n: number, onBytes: (b: Buffer) => void | Promise<void>): Promise<number>;
  /** drops everything: the download starts again from byte 0 */
  reset(): Promise<void>;
  /**
   * ranges whose own SHA-256 the download computes besides the whole's (a plain package's files,
   * so that nothing hashes them again), in order, not overlapping
   */
  ranges?: readonly Range[];
  /** their SHA-256s (hex, in the order of `ranges`), told once the whole resource checked out */
  rangesHashed?(sha256s: string[]): void;
}

/** The resource's bytes as they are, in the `.part` (through its descriptor, never its path). */
export class PartStore implements Store {
  constructor(readonly file: FileHandle) {}
  size = async () => (await this.file.stat()).size;
  write = (chunks: readonly Buffer[], bytes: number, at: number) => writevAll(this.file, chunks, bytes, at);
  replay = async (n: number, onBytes: (b: Buffer) => void | Promise<void>) => (await readBack(this.file, 0, n, onBytes), n);
  reset = () => this.file.truncate(0);
}

/** what goes to disk at once, about: few large writes (and reads) cost less than many small ones */
export const BATCH = 1024 * 1024;

export async function downloadToFile(client: PushdropClient, pathOrUrl: string, partFile: string, opts: DownloadOptions): Promise<DownloadResult> {
  const tries = opts.tries ?? 6;
  const backoff = opts.backoffMs ?? ((a: number) => Math.min(30_000, 1000 * 2 ** (a - 1)));
  const file = await openPart(partFile);
  const made: Sha256[] = [];
  try {
    const store: Store = opts.store?.(file) ?? new PartStore(file);
    const ranges = store.ranges ?? [];
    const newHash = () => {
      const h = opts.size >= OFF_THREAD_FROM ? workerHash(ranges) : mainThreadHash(ranges);
      made.push(h);
      return h;
    };
    const resumedFrom = Math.min(await store.size(), opts.size);
    let hashed: Hashed | null = null;
    for (let attempt = 1; ; attempt++) {
      try {
        await tryOnce(client, pathOrUrl, store, opts, hashed, (h) => (hashed = h), newHash);
        return { resumedFrom };
      } catch (e) {
        const again = isTransient(e) || isStreamBreak(e);
        if (!again || attempt >= tries || opts.signal?.aborted) throw e instanceof Error && isStreamBreak(e) ? new NetworkError(`The download broke off (${e.message}).`, e) : e;
        const wait = retryDelayMs(e, backoff(attempt));
        opts.onRetry?.(attempt, wait, e instanceof ApiError ? e.status : null);
        await sleep(wait, opts.signal); // (Ctrl-C ends the wait too)
      }
    }
  } finally {
    for (const h of made) h.close();
    await file.close();
  }
}

const refused = (partFile: string, why: string) =>
  integrityError(
    `${shown(partFile)} ${why}; pushdrop writes only to files it created there, never through a link. Nothing was written; remove it (or choose another --dir) and run this again.`,
    "unsafe_part_file",
    { path: partFile },
  );

/**
 * The `.part` file, opened for reading and writing without following a link: created
 * exclusively when it is not there, else checked to be the regular file it claims to be.
 */
export async function openPart(partFile: string, mode = 0o600): Promise<FileHandle> {
  const { O_RDWR, O_CREAT, O_EXCL, O_NOFOLLOW } = constants;
  let file: FileHandle;
  try {
    file = await open(partFile, O_RDWR | O_NOFOLLOW);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ELOOP" || code === "EMLINK") throw refused(partFile, "is a symbolic link");
    if (code !== "ENOENT") throw e;
    try {
      // not there: made now, and only by us (a link planted meanwhile makes this fail, not follow)
      return await open(partFile, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
    } catch (e2) {
      if ((e2 as NodeJS.ErrnoException).code === "EEXIST") throw refused(partFile, "appeared while it was being created");
      throw e2;
    }
  }
  try {
    const [fst, lst] = [await file.stat(), await lstat(partFile)];
    if (!fst.isFile()) throw refused(partFile, "is not a regular file");
    if (fst.dev !== lst.dev || fst.ino !== lst.ino) throw refused(partFile, "was replaced while it was being opened");
    if (fst.nlink !== 1) throw refused(partFile, `has ${fst.nlink} names (a hard link to a file elsewhere, perhaps)`);
  } catch (e) {
    await file.close();
    throw e;
  }
  return file;
}

async function tryOnce(
  client: PushdropClient,
  pathOrUrl: string,
  store: Store,
  opts: DownloadOptions,
  carried: Hashed | null,
  carry: (h: Hashed) => void,
  newHash: () => Sha256,
): Promise<void> {
  let offset = await store.size();
  if (offset > opts.size) {
    await store.reset();
    offset = 0;
  }
  // what is on disk was hashed as an earlier try of this call wrote it, or is read back now (once)
  let hashed: Hashed;
  if (carried?.bytes === offset) hashed = carried;
  else {
    let h: Hashed = { hash: newHash(), bytes: offset };
    if (offset > 0 && (await store.replay(offset, (b) => h.hash.update([b], b.length))) !== offset) {
      offset = 0; // (the store started over)
      h = { hash: newHash(), bytes: 0 };
    }
    hashed = h;
  }
  carry(hashed);
  if (offset === opts.size && opts.size > 0) return finish(store, hashed.hash, opts);

  opts.onStart?.(offset, hashed === carried ? 0 : offset);
  const res = await (opts.get ?? viaFetch)(client, pathOrUrl, { offset, ifRange: `"${opts.sha256}"`, signal: opts.signal });
  try {
    if (offset > 0 && res.status === 200) {
      // the server sent the whole thing (what is on disk is of another version): start over
      await store.reset();
      hashed = { hash: newHash(), bytes: 0 };
      carry(hashed);
    } else if (offset > 0) {
      const start = /^bytes (\d+)-/.exec(res.headers.get("content-range") ?? "")?.[1];
      if (Number(start) !== offset) throw new ApiError(res.status, "bad_response", `Asked for the bytes from ${offset} on, got ${res.headers.get("content-range") ?? "no Content-Range"}.`);
    }
  } catch (e) {
    res.body.destroy(); // (its connection, paused, would hold the process open)
    throw e;
  }
  await write(res, store, hashed, opts);
  return finish(store, hashed.hash, opts);
}

/**
 * The body into the store, read straight into the hash's slots (cli/direct-get.ts reads the
 * socket into them; no buffer per chunk, no copy): while one slot is being read, the ones
 * before it are written to the store, in order, one write at a time, and each is hashed once
 * it is written, then freed; a read waits for a free slot, so at most the ring is in memory.
 * The store must not keep a slot's bytes past its write (cli/onepass.ts copies what it keeps).
 */
async function write(res: Incoming, store: Store, hashed: Hashed, opts: DownloadOptions): Promise<void> {
  const body = res.body;
  const hash = hashed.hash;
  opts.onProgress?.(hashed.bytes);
  let next = hashed.bytes; // where the next slot's bytes go
  // the writes, in order; a failure ends the reading too (a slot whose write failed is never
  // hashed, so never freed by the hash: given back below, once the writes are through)
  let writes: Promise<void> = Promise.resolve();
  const unhashed = new Set<Slot>();
  let stop!: (e: unknown) => void;
  const stopped = new Promise<never>((_, reject) => (stop = reject));
  stopped.catch(() => undefined);
  try {
    for (;;) {
      const taking = hash.take();
      const slot = await Promise.race([taking, stopped]).catch((e: unknown) => {
        void taking.then((x) => hash.unused(x), () => undefined); // (a slot it gets later goes back)
        throw e;
      });
      let n: number;
      try {
        n = await Promise.race([body.read(slot.buf), stopped]);
      } catch (e) {
        hash.unused(slot);
        throw e;
      }
      if (n === 0) {
        hash.unused(slot);
        break;
      }
      // refused as the bytes come, not once they are all on disk (and not retried: it is no break)
      if (next + n > opts.size) {
        hash.unused(slot);
        await writes.catch(() => undefined);
        await store.reset();
        throw integrityError(`The server sent more than the ${opts.size} bytes expected; nothing was kept.`, "too_long");
      }
      const at = next;
      next += n;
      unhashed.add(slot);
      writes = writes.then(async () => {
        await store.write([slot.buf.subarray(0, n)], n, at);
        unhashed.delete(slot);
        hash.hashed(slot, n); // (only once it is in the store)
        hashed.bytes += n;
        opts.onProgress?.(hashed.bytes);
      });
      writes.catch(stop);
    }
    await writes;
  } catch (e) {
    body.destroy();
    // what was being written is written (or failed) before anything else happens: a retry
    // resumes from what the store holds and the hash covers
    await writes.catch(() => undefined);
    for (const slot of unhashed) hash.unused(slot);
    throw opts.signal?.aborted ? (opts.signal.reason ?? e) : e;
  }
}

/** `bytes` bytes of `chunks` at `position`, through the descriptor (one writev, mostly). */
export async function writevAll(file: FileHandle, chunks: readonly Buffer[], bytes: number, position: number): Promise<void> {
  if (bytes === 0) return;
  const { bytesWritten } = await file.writev(chunks as Buffer[], position);
  if (bytesWritten === bytes) return;
  // a short write (rare): the rest, one buffer at a time
  const rest = Buffer.concat(chunks as Buffer[], bytes).subarray(bytesWritten);
  for (let done = 0; done < rest.length; ) {
    const r = await file.write(rest, done, rest.length - done, position + bytesWritten + done);
    done += r.bytesWritten;
  }
}

/**
 * A web stream into `file` from its start, in writes of about BATCH bytes (a decrypter's or
 * encrypter's 64 KiB chunks, gathered: one write per chunk costs far more), one under way while
 * the next batch is made; `onBytes` is told how many bytes are in the file after each write.
 * Returns that count once every write is through.
 */
export async function writeStreamTo(file: FileHandle, stream: ReadableStream<Uint8Array>, onBytes?: (written: number) => void): Promise<number> {
  const reader = stream.getReader();
  let batch: Buffer[] = [];
  let bytes = 0;
  let at = 0;
  // one write under way while the stream makes the next batch (the decrypter or encrypter does
  // not wait for the disk); its failure is thrown before the next write or at the end
  let writing: Promise<void> | null = null;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (value) {
        batch.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
        bytes += value.byteLength;
      }
      if (bytes >= BATCH || (done && bytes > 0)) {
        await writing;
        const [chunks, n, position] = [batch, bytes, at];
        at += n;
        batch = [];
        bytes = 0;
        writing = writevAll(file, chunks, n, position).then(() => onBytes?.(position + n));
        writing.catch(() => undefined); // (awaited above or below; a failure meanwhile is not unhandled)
      }
      if (done) {
        await writing;
        return at;
      }
    }
  } catch (e) {
    await writing?.catch(() => undefined); // (no write left under way on the descriptor)
    throw e;
  }
}

/** Reads [start, end) of an open file, BATCH at a time, each piece to `onBytes` (a new buffer each time). */
export async function readBack(file: FileHandle, start: number, end: number, onBytes: (b: Buffer) => void | Promise<void>): Promise<void> {
  for (let at = start; at < end; ) {
    const buf = Buffer.allocUnsafe(Math.min(BATCH, end - at));
    const { bytesRead } = await file.read(buf, 0, buf.length, at);
    if (bytesRead === 0) throw new NetworkError(`The partial download ended at ${at} of the ${end} bytes it had a moment ago.`);
    await onBytes(buf.subarray(0, bytesRead));
    at += bytesRead;
  }
}

async function finish(store: Store, hash: Sha256, opts: DownloadOptions): Promise<void> {
  const size = await store.size();
  if (size !== opts.size) throw new NetworkError(`The download ended after ${size} of ${opts.size} bytes.`);
  const got = await hash.digest();
  if (got.whole !== opts.sha256) {
    await store.reset(); // these bytes are wrong (not retried: the next run starts afresh)
    throw integrityError(`The downloaded bytes do not match their checksum (sha256 ${got.whole}, expected ${opts.sha256}).`, "sha256_mismatch");
  }
  store.rangesHashed?.(got.ranges);
}

/** How much a `.part` holds, for a progress display: a regular file's size, else 0 (a link is not looked through). */
export function sizeOf(file: string): number {
  try {
    const st = lstatSync(file);
    return st.isFile() ? st.size : 0;
  } catch {
    return 0;
  }
}

/** undici's "terminated", a reset socket, a premature close: the body stopped coming. */
function isStreamBreak(e: unknown): boolean {
  if (!(e instanceof Error) || e.name === "AbortError") return false;
  const code = (e as { code?: string }).code ?? (e.cause as { code?: string } | undefined)?.code;
  return (
    e.message === "terminated" ||
    code === "ECONNRESET" ||
    code === "ERR_STREAM_PREMATURE_CLOSE" ||
    code === "UND_ERR_SOCKET" ||
    code === "EPIPE"
  );
}
