import { createHash, type Hash } from "node:crypto";
import { constants, createReadStream, lstatSync } from "node:fs";
import { lstat, open, type FileHandle } from "node:fs/promises";
import { Readable, Writable } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { pipeline } from "node:stream/promises";
import { ApiError, NetworkError, isTransient, retryDelayMs, sleep, type PushdropClient } from "../client";
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
   * given each chunk once it is in the file and hashed, with its offset (cli/onepass.ts reads the
   * package on its way to disk); the download waits for it, so a slow reader slows the download
   * instead of piling bytes up in memory
   */
  onChunk?: (chunk: Buffer, at: number) => Promise<void>;
  tries?: number;
  backoffMs?: (attempt: number) => number;
}

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
  hash: Hash;
  bytes: number;
}

export async function downloadToFile(client: PushdropClient, pathOrUrl: string, partFile: string, opts: DownloadOptions): Promise<DownloadResult> {
  const tries = opts.tries ?? 6;
  const backoff = opts.backoffMs ?? ((a: number) => Math.min(30_000, 1000 * 2 ** (a - 1)));
  const file = await openPart(partFile);
  try {
    const resumedFrom = Math.min((await file.stat()).size, opts.size);
    let hashed: Hashed | null = null;
    for (let attempt = 1; ; attempt++) {
      try {
        await tryOnce(client, pathOrUrl, file, opts, hashed, (h) => (hashed = h));
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
export async function openPart(partFile: string): Promise<FileHandle> {
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
      return await open(partFile, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
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
  file: FileHandle,
  opts: DownloadOptions,
  carried: Hashed | null,
  carry: (h: Hashed) => void,
): Promise<void> {
  let offset = (await file.stat()).size;
  if (offset > opts.size) {
    await file.truncate(0);
    offset = 0;
  }
  // what is on disk was hashed as an earlier try of this call wrote it, or is read back now
  let hashed: Hashed;
  if (carried?.bytes === offset) hashed = carried;
  else {
    hashed = { hash: createHash("sha256"), bytes: offset };
    if (offset > 0) await hashHandle(file, hashed.hash, offset);
  }
  carry(hashed);
  if (offset === opts.size && opts.size > 0) return finish(file, hashed.hash, opts);

  opts.onStart?.(offset, hashed === carried ? 0 : offset);
  const res = await client.download(pathOrUrl, { offset, ifRange: `"${opts.sha256}"`, signal: opts.signal });
  if (offset > 0 && res.status === 200) {
    // the server sent the whole thing (what is on disk is of another version): start over
    await file.truncate(0);
    hashed = { hash: createHash("sha256"), bytes: 0 };
    carry(hashed);
  } else if (offset > 0) {
    const start = /^bytes (\d+)-/.exec(res.headers.get("content-range") ?? "")?.[1];
    if (Number(start) !== offset) {
      await res.body?.cancel();
      throw new ApiError(res.status, "bad_response", `Asked for the bytes from ${offset} on, got ${res.headers.get("content-range") ?? "no Content-Range"}.`);
    }
  }
  await write(res, file, hashed, opts);
  return finish(file, hashed.hash, opts);
}

async function write(res: Response, file: FileHandle, hashed: Hashed, opts: DownloadOptions): Promise<void> {
  if (!res.body) throw new NetworkError("The server sent no body.");
  opts.onProgress?.(hashed.bytes);
  const tooLong = integrityError(`The server sent more than the ${opts.size} bytes expected; nothing was kept.`, "too_long");
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      // refused as the bytes come, not once they are all on disk (and not retried: it is no break)
      if (hashed.bytes + chunk.length > opts.size) return cb(tooLong);
      // at its place, through the descriptor (whatever the path names by now)
      const at = hashed.bytes;
      writeAll(file, chunk, at)
        .then(() => {
          hashed.hash.update(chunk); // (only once it is in the file)
          hashed.bytes += chunk.length;
          opts.onProgress?.(hashed.bytes);
          return opts.onChunk?.(chunk, at);
        })
        .then(() => cb(), cb);
    },
  });
  try {
    await pipeline(Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>), sink, { signal: opts.signal });
  } catch (e) {
    if (e === tooLong) await file.truncate(0);
    throw e;
  }
}

async function writeAll(file: FileHandle, chunk: Buffer, position: number): Promise<void> {
  for (let done = 0; done < chunk.length; ) {
    const { bytesWritten } = await file.write(chunk, done, chunk.length - done, position + done);
    done += bytesWritten;
  }
}

async function finish(file: FileHandle, hash: Hash, opts: DownloadOptions): Promise<void> {
  const size = (await file.stat()).size;
  if (size !== opts.size) throw new NetworkError(`The download ended after ${size} of ${opts.size} bytes.`);
  const got = hash.digest("hex");
  if (got !== opts.sha256) {
    await file.truncate(0); // these bytes are wrong (not retried: the next run starts afresh)
    throw integrityError(`The downloaded bytes do not match their checksum (sha256 ${got}, expected ${opts.sha256}).`, "sha256_mismatch");
  }
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

/** The sha256 of the first `bytes` bytes behind an open descriptor (left open). */
async function hashHandle(file: FileHandle, hash: Hash, bytes: number): Promise<void> {
  const buf = Buffer.allocUnsafe(1024 * 1024);
  for (let at = 0; at < bytes; ) {
    const { bytesRead } = await file.read(buf, 0, Math.min(buf.length, bytes - at), at);
    if (bytesRead === 0) throw new NetworkError(`The partial download ended at ${at} of the ${bytes} bytes it had a moment ago.`);
    hash.update(buf.subarray(0, bytesRead));
    at += bytesRead;
  }
}

export async function hashFile(file: string, hash = createHash("sha256"), start = 0, end?: number): Promise<Hash> {
  for await (const chunk of createReadStream(file, { start, end })) hash.update(chunk as Buffer);
  return hash;
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
