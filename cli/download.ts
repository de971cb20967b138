import { createHash, type Hash } from "node:crypto";
import { createReadStream, createWriteStream, statSync, truncateSync } from "node:fs";
import { Readable, Transform } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { pipeline } from "node:stream/promises";
import { ApiError, NetworkError, sleep, type PushdropClient } from "../client";
import { integrityError } from "./exit";

/**
 * A download into a `.part` file that survives being killed: run again, it asks for the rest
 * with `Range: bytes=<what is on disk>-` and `If-Range: <ETag>` (so bytes of another version
 * are never glued on), and at the end checks the whole file's sha256. A dropped connection or
 * a server fault is retried in the same run from where the file stands.
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
 */
interface Hashed {
  hash: Hash | null;
  bytes: number;
}

export async function downloadToFile(client: PushdropClient, pathOrUrl: string, partFile: string, opts: DownloadOptions): Promise<DownloadResult> {
  const tries = opts.tries ?? 6;
  const backoff = opts.backoffMs ?? ((a: number) => Math.min(30_000, 1000 * 2 ** (a - 1)));
  const resumedFrom = Math.min(sizeOf(partFile), opts.size);
  const hashed: Hashed = { hash: null, bytes: 0 };
  for (let attempt = 1; ; attempt++) {
    try {
      await tryOnce(client, pathOrUrl, partFile, opts, hashed);
      return { resumedFrom };
    } catch (e) {
      const again = e instanceof NetworkError || (e instanceof ApiError && e.retryable) || isStreamBreak(e);
      if (!again || attempt >= tries || opts.signal?.aborted) throw e instanceof Error && isStreamBreak(e) ? new NetworkError(`The download broke off (${e.message}).`, e) : e;
      const wait = e instanceof ApiError && e.retryAfter !== undefined ? e.retryAfter * 1000 : backoff(attempt);
      await sleep(wait, opts.signal); // (Ctrl-C ends the wait too)
    }
  }
}

async function tryOnce(client: PushdropClient, pathOrUrl: string, partFile: string, opts: DownloadOptions, hashed: Hashed): Promise<void> {
  let offset = sizeOf(partFile);
  if (offset > opts.size) {
    truncateSync(partFile, 0);
    offset = 0;
  }
  // what is on disk was hashed as an earlier try wrote it (the counts agree), or is read back
  let hash = hashed.hash !== null && hashed.bytes === offset ? hashed.hash : null;
  const rehashed = hash === null ? offset : 0;
  if (hash === null) {
    hash = createHash("sha256");
    if (offset > 0) await hashFile(partFile, hash, 0, offset - 1);
  }
  hashed.hash = hash;
  hashed.bytes = offset;
  if (offset === opts.size && opts.size > 0) return finish(partFile, hashed, opts);

  opts.onStart?.(offset, rehashed);
  const res = await client.download(pathOrUrl, { offset, ifRange: `"${opts.sha256}"`, signal: opts.signal });
  if (offset > 0 && res.status === 200) {
    // the server sent the whole thing (what is on disk is of another version): start over
    offset = 0;
    hashed.hash = createHash("sha256");
    hashed.bytes = 0;
  } else if (offset > 0) {
    const start = /^bytes (\d+)-/.exec(res.headers.get("content-range") ?? "")?.[1];
    if (Number(start) !== offset) {
      await res.body?.cancel();
      throw new ApiError(res.status, "bad_response", `Asked for the bytes from ${offset} on, got ${res.headers.get("content-range") ?? "no Content-Range"}.`);
    }
  }
  await write(res, partFile, offset, hashed, opts);
  return finish(partFile, hashed, opts);
}

async function write(res: Response, partFile: string, offset: number, hashed: Hashed, opts: DownloadOptions): Promise<void> {
  if (!res.body) throw new NetworkError("The server sent no body.");
  let bytes = offset;
  opts.onProgress?.(bytes);
  const tooLong = integrityError(`The server sent more than the ${opts.size} bytes expected; nothing was kept.`, "too_long");
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      bytes += chunk.length;
      // refused as the bytes come, not once they are all on disk (and not retried: it is no break)
      if (bytes > opts.size) return cb(tooLong);
      // (a chunk hashed but then not written leaves the counts apart: the next try reads back)
      hashed.hash!.update(chunk);
      hashed.bytes += chunk.length;
      opts.onProgress?.(bytes);
      cb(null, chunk);
    },
  });
  try {
    await pipeline(
      Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>),
      tap,
      createWriteStream(partFile, { flags: offset === 0 ? "w" : "a" }),
      { signal: opts.signal },
    );
  } catch (e) {
    if (e === tooLong) {
      truncateSync(partFile, 0);
      hashed.hash = null;
    }
    throw e;
  }
}

function finish(partFile: string, hashed: Hashed, opts: DownloadOptions): void {
  const size = sizeOf(partFile);
  if (size !== opts.size) throw new NetworkError(`The download ended after ${size} of ${opts.size} bytes.`);
  const got = hashed.hash!.digest("hex");
  hashed.hash = null; // (digested: not to be carried on)
  if (got !== opts.sha256) {
    truncateSync(partFile, 0); // these bytes are wrong: the next try starts afresh
    throw integrityError(`The downloaded bytes do not match their checksum (sha256 ${got}, expected ${opts.sha256}).`, "sha256_mismatch");
  }
}

export function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
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
