import { createHash, type Hash } from "node:crypto";
import { createReadStream, statSync, truncateSync } from "node:fs";
import { open } from "node:fs/promises";
import { Readable, Writable } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { pipeline } from "node:stream/promises";
import { ApiError, NetworkError, isTransient, retryDelayMs, sleep, type PushdropClient } from "../client";
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
  const resumedFrom = Math.min(sizeOf(partFile), opts.size);
  let hashed: Hashed | null = null;
  for (let attempt = 1; ; attempt++) {
    try {
      await tryOnce(client, pathOrUrl, partFile, opts, hashed, (h) => (hashed = h));
      return { resumedFrom };
    } catch (e) {
      const again = isTransient(e) || isStreamBreak(e);
      if (!again || attempt >= tries || opts.signal?.aborted) throw e instanceof Error && isStreamBreak(e) ? new NetworkError(`The download broke off (${e.message}).`, e) : e;
      await sleep(retryDelayMs(e, backoff(attempt)), opts.signal); // (Ctrl-C ends the wait too)
    }
  }
}

async function tryOnce(
  client: PushdropClient,
  pathOrUrl: string,
  partFile: string,
  opts: DownloadOptions,
  carried: Hashed | null,
  carry: (h: Hashed) => void,
): Promise<void> {
  let offset = sizeOf(partFile);
  if (offset > opts.size) {
    truncateSync(partFile, 0);
    offset = 0;
  }
  // what is on disk was hashed as an earlier try of this call wrote it, or is read back now
  let hashed: Hashed;
  if (carried?.bytes === offset) hashed = carried;
  else {
    hashed = { hash: createHash("sha256"), bytes: offset };
    if (offset > 0) await hashFile(partFile, hashed.hash, 0, offset - 1);
  }
  carry(hashed);
  if (offset === opts.size && opts.size > 0) return finish(partFile, hashed.hash, opts);

  opts.onStart?.(offset, hashed === carried ? 0 : offset);
  const res = await client.download(pathOrUrl, { offset, ifRange: `"${opts.sha256}"`, signal: opts.signal });
  if (offset > 0 && res.status === 200) {
    // the server sent the whole thing (what is on disk is of another version): start over
    hashed = { hash: createHash("sha256"), bytes: 0 };
    carry(hashed);
  } else if (offset > 0) {
    const start = /^bytes (\d+)-/.exec(res.headers.get("content-range") ?? "")?.[1];
    if (Number(start) !== offset) {
      await res.body?.cancel();
      throw new ApiError(res.status, "bad_response", `Asked for the bytes from ${offset} on, got ${res.headers.get("content-range") ?? "no Content-Range"}.`);
    }
  }
  await write(res, partFile, hashed, opts);
  return finish(partFile, hashed.hash, opts);
}

async function write(res: Response, partFile: string, hashed: Hashed, opts: DownloadOptions): Promise<void> {
  if (!res.body) throw new NetworkError("The server sent no body.");
  opts.onProgress?.(hashed.bytes);
  const tooLong = integrityError(`The server sent more than the ${opts.size} bytes expected; nothing was kept.`, "too_long");
  const file = await open(partFile, hashed.bytes === 0 ? "w" : "a");
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      // refused as the bytes come, not once they are all on disk (and not retried: it is no break)
      if (hashed.bytes + chunk.length > opts.size) return cb(tooLong);
      file.write(chunk).then(() => {
        hashed.hash.update(chunk); // (only once it is in the file)
        hashed.bytes += chunk.length;
        opts.onProgress?.(hashed.bytes);
        cb();
      }, cb);
    },
  });
  try {
    await pipeline(Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>), sink, { signal: opts.signal });
  } catch (e) {
    if (e === tooLong) truncateSync(partFile, 0);
    throw e;
  } finally {
    await file.close();
  }
}

function finish(partFile: string, hash: Hash, opts: DownloadOptions): void {
  const size = sizeOf(partFile);
  if (size !== opts.size) throw new NetworkError(`The download ended after ${size} of ${opts.size} bytes.`);
  const got = hash.digest("hex");
  if (got !== opts.sha256) {
    truncateSync(partFile, 0); // these bytes are wrong (not retried: the next run starts afresh)
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
