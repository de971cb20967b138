import type { Downloader } from "../auth/access";
import { ApiError, conflict, gone } from "../errors";
import { notifyDownloaded } from "../notify/producers";
import { baseName } from "../package/names";
import { effectiveStatus } from "../lifecycle";
import { frameKey } from "../store/keys";
import { getObject, objectsInOrder, type ObjectsInOrder } from "../store/objects";
import {
  expireNow,
  getTransfer,
  recordDownload,
  extendServed,
  type FileRow,
  type TransferRecord,
  type TransferRow,
} from "../store/transfers";
import { contentDisposition } from "./disposition";
import { filePieces, packagePieces, type FileLayout, type Piece, type StoredPart } from "./pieces";
import { recordAhead } from "./progress";
import { etagMatches, parseRange } from "./range";

/**
 * Step 4 of the flow: stream the package (or one file of it) from R2 to the client, with
 * Range, ETag and If-None-Match. The package is put together as it goes out: its frame
 * object's bytes and the files' part objects, each piped natively into one
 * FixedLengthStream (src/deliver/pieces.ts says which bytes come from where). One file is
 * a range read of the package at its data offset: every entry is stored, so its bytes are
 * its part objects, unchanged. When a recipient's download of the package reaches its last
 * byte, the download is recorded, the sender gets its receipt, and the transfer becomes
 * `delivered` once every recipient has it.
 */


/**
 * `finishing`: a recipient whose download already counted asks for the rest of it (`Range:
 * bytes=N-`, N > 0). A download is counted once the server has handed its last byte to the
 * network, which a client can still lose (a connection dropped with bytes in flight): so when
 * that download used up `maxDownloads`, its recipient may still resume it until the sweep
 * removes the files (not counted again).
 */
function assertDownloadable(t: TransferRow, now: number, finishing = false): void {
  const status = effectiveStatus(t, now);
  // the download that uses up maxDownloads also ends the transfer (expireNow): say why it is gone
  const usedUp = t.max_downloads !== null && t.downloads >= t.max_downloads;
  if (usedUp && (status === "expired" || status === "ready" || status === "delivered")) {
    if (finishing && t.purged_at === null && t.package_size !== null && t.package_sha256 !== null) return;
    throw gone("download_limit_reached", `This transfer could be downloaded ${t.max_downloads} time(s); that is used up.`);
  }
  if (status === "expired") throw gone("transfer_expired", "This transfer has expired; its files are gone.");
  if (status === "cancelled") throw gone("transfer_cancelled", "The sender cancelled this transfer; its files are gone.");
  if (status === "failed") throw conflict("transfer_failed", `This transfer failed: ${t.failure ?? "packaging failed"}.`);
  if (status === "uploading" || status === "packaging") {
    throw conflict("not_ready", `This transfer is still ${status}; it can be downloaded once it is ready.`);
  }
  if (t.purged_at !== null || t.package_size === null || t.package_sha256 === null) {
    throw gone("transfer_expired", "This transfer's files are gone.");
  }
}

interface Slice {
  /** the frame object (for a package), null for one file */
  frame: string | null;
  /** which pieces make up bytes [start, end) of the representation */
  pieces: (start: number, end: number) => Piece[];
  size: number;
  etag: string;
  type: string;
  filename: string;
}

/**
 * Told, once a response has ended (whole or cut short), which bytes it is credited with:
 * [start, start + sent). A whole response is credited with all it sent. One cut short is
 * credited to the end of the piece (a header block, a part object) it was sending, but never
 * with its own last byte: the server cannot tell, without counting bytes, how much of that
 * piece the client got, and a client resumes from what it has (`Range: bytes=<have>-`), which
 * must start inside what is credited for the resumed download to count.
 */
type OnServed = (start: number, sent: number) => Promise<void>;

async function serve(
  env: Env,
  request: Request,
  s: Slice,
  onServed: OnServed | null,
  waitUntil: (p: Promise<unknown>) => void,
): Promise<Response> {
  const headers = new Headers({
    "Accept-Ranges": "bytes",
    ETag: s.etag,
    // the bytes as stored, never re-encoded on the way: a gzip'd text file would lose its
    // Content-Length, and its ranges and strong ETag would no longer be of these bytes.
    // no-transform keeps Cloudflare's edge from compressing; an explicit identity coding keeps
    // the local runtime (which imitates that compression by Content-Type) from doing it
    "Cache-Control": "private, no-cache, no-transform",
    "Content-Encoding": "identity",
    "Content-Disposition": contentDisposition(s.filename),
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "sandbox; default-src 'none'",
  });
  if (etagMatches(request.headers.get("if-none-match"), s.etag)) return new Response(null, { status: 304, headers });

  let range = parseRange(request.headers.get("range"), s.size);
  const ifRange = request.headers.get("if-range");
  if (ifRange !== null && range.kind !== "none" && ifRange.trim() !== s.etag) range = { kind: "none" };
  if (range.kind === "invalid" || range.kind === "unsatisfiable") {
    headers.set("Content-Range", `bytes */${s.size}`);
    throw new ApiError(416, "range_not_satisfiable", range.kind === "invalid"
      ? "The Range header is malformed; send bytes=start-end."
      : `The range lies outside the ${s.size} bytes available.`, Object.fromEntries(headers));
  }
  const start = range.kind === "range" ? range.start : 0;
  const end = range.kind === "range" ? range.end : s.size - 1;
  const length = s.size === 0 ? 0 : end - start + 1;
  headers.set("Content-Type", s.type);
  headers.set("Content-Length", String(length));
  if (range.kind === "range") headers.set("Content-Range", `bytes ${start}-${end}/${s.size}`);
  const status = range.kind === "range" ? 206 : 200;
  if (request.method === "HEAD" || length === 0) {
    if (length === 0 && onServed && request.method !== "HEAD") waitUntil(onServed(start, 0));
    return new Response(null, { status, headers });
  }

  const pieces = s.pieces(start, start + length);
  const only = pieces.length === 1 ? pieces[0]! : null;
  if (only?.from === "object" && !onServed) {
    // one part object, nothing to learn: its body is the response, as R2 gives it
    const obj = await getObject(env.BUCKET, only.key, rangeOf(only));
    if (!obj) throw gone("transfer_expired", "This transfer's files are gone.");
    return new Response(obj.body, { status, headers });
  }
  // the first part objects are fetched while the frame is (one R2 round trip before the first byte, not two)
  const objects = objectsInOrder(
    env.BUCKET,
    pieces.flatMap((p) => (p.from === "object" ? [{ key: p.key, range: rangeOf(p) }] : [])),
  );
  let frame: FrameBytes | null = null;
  try {
    if (s.frame !== null) frame = await frameBytes(env, s.frame, pieces);
  } catch (e) {
    objects.cancelRest();
    throw e;
  }
  const out = new FixedLengthStream(length);
  // a crash mid-response must not lose the progress: recorded ahead of the bytes (./progress.ts)
  const ahead = onServed ? recordAhead((upTo) => onServed(start, upTo), length) : null;
  const piped = pipePieces(pieces, objects, frame, out.writable, ahead);
  waitUntil(onServed ? piped.then(({ sent, reached }) => onServed(start, sent === length ? length : Math.min(reached, length - 1))) : piped);
  return new Response(out.readable, { status, headers });
}

/** The range of a part object a piece needs; none when it needs all of it (a plain get). */
const rangeOf = (p: Extract<Piece, { from: "object" }>) => (p.offset === 0 && p.length === p.size ? undefined : { offset: p.offset, length: p.length });

/** Bytes of the frame object from offset `base`. */
interface FrameBytes {
  base: number;
  bytes: Uint8Array;
}

/** The bytes of the frame that `pieces` use, fetched once (headers and manifest: small). */
async function frameBytes(env: Env, key: string, pieces: readonly Piece[]): Promise<FrameBytes | null> {
  const used = pieces.filter((p) => p.from === "frame");
  if (used.length === 0) return null;
  const base = used[0]!.offset;
  const last = used.at(-1)!;
  const obj = await getObject(env.BUCKET, key, { offset: base, length: last.offset + last.length - base });
  if (!obj) throw gone("transfer_expired", "This transfer's files are gone.");
  return { base, bytes: new Uint8Array(await obj.arrayBuffer()) };
}

/**
 * Pipes each piece into `out`, natively (R2 body → FixedLengthStream; `objects` are the
 * object pieces' reads, in order) or, for frame bytes, with one write each. Resolves with how many bytes went out in whole pieces (`sent`) and
 * where the piece it was sending ends (`reached`: `sent` when none was under way); never
 * rejects (a client that went away, or a part that could not be read, ends the response short).
 */
async function pipePieces(
  pieces: readonly Piece[],
  objects: ObjectsInOrder,
  frame: FrameBytes | null,
  out: WritableStream<Uint8Array>,
  before: ((sent: number, length: number) => Promise<void>) | null = null,
): Promise<{ sent: number; reached: number }> {
  let sent = 0;
  let reached = 0; // (the end of the piece under way, or of the last one: never below sent)
  try {
    for (const p of pieces) {
      await before?.(sent, p.length);
      if (p.from === "frame") {
        const w = out.getWriter();
        reached = sent + p.length;
        try {
          await w.write(frame!.bytes.subarray(p.offset - frame!.base, p.offset - frame!.base + p.length));
        } finally {
          w.releaseLock();
        }
      } else {
        const obj = await objects.next();
        if (!obj) throw new Error(`part object ${p.key} is missing`);
        reached = sent + p.length;
        await obj.body.pipeTo(out, { preventClose: true });
      }
      sent += p.length;
    }
    await out.close();
  } catch (e) {
    if (sent < pieces.reduce((n, p) => n + p.length, 0)) {
      console.log(JSON.stringify({ event: "download_cut", sent, reached, error: String(e) }));
    }
    await out.abort(e).catch(() => {});
    objects.cancelRest(); // bodies fetched ahead and never read
  }
  return { sent, reached };
}

/** Each file's bytes in the package: its data offset and its part objects, from D1. */
function layoutOf(rec: TransferRecord): FileLayout[] {
  return rec.files.map((f) => ({ dataOffset: f.data_offset ?? 0, size: f.size, parts: partsOf(rec, f) }));
}

function partsOf(rec: TransferRecord, f: FileRow): StoredPart[] {
  return rec.parts.filter((p) => p.idx === f.idx).map((p) => ({ key: p.object_key, size: p.size }));
}

/** A Range that starts past byte 0: the rest of something the client has the start of. */
function isResume(request: Request, size: number): boolean {
  const range = parseRange(request.headers.get("range"), size);
  return range.kind === "range" && range.start > 0;
}

export async function servePackage(
  env: Env,
  request: Request,
  rec: TransferRecord,
  who: Downloader,
  waitUntil: (p: Promise<unknown>) => void,
  now = Date.now(),
): Promise<Response> {
  const t = rec.transfer;
  const finishing = who.counts && isResume(request, t.package_size ?? 0) && rec.recipients.some((r) => r.terminal_id === who.terminalId && r.downloaded_at !== null);
  assertDownloadable(t, now, finishing);
  const layout = layoutOf(rec);
  return serve(
    env,
    request,
    {
      frame: frameKey(t.id),
      pieces: (start, end) => packagePieces(layout, t.package_size!, start, end),
      size: t.package_size!,
      etag: `"${t.package_sha256}"`,
      type: "application/zip",
      filename: `pushdrop-${t.id.slice(0, 8)}.zip`,
    },
    // (a recipient finishing a download that counted already is not counted again)
    who.counts && !finishing ? (start, sent) => downloadProgress(env, t, who.terminalId, start, sent) : null,
    waitUntil,
  );
}

export async function serveFile(
  env: Env,
  request: Request,
  rec: TransferRecord,
  file: FileRow,
  waitUntil: (p: Promise<unknown>) => void,
  now = Date.now(),
): Promise<Response> {
  const t = rec.transfer;
  assertDownloadable(t, now);
  if (file.data_offset === null || file.sha256 === null) throw conflict("not_ready", "This file is not packaged yet.");
  return serve(
    env,
    request,
    {
      frame: null,
      pieces: (start, end) => filePieces(partsOf(rec, file), start, end),
      size: file.size,
      etag: `"${file.sha256}"`,
      type: file.type,
      filename: baseName(file.name),
    },
    null,
    waitUntil,
  );
}

/**
 * What a recipient has been served of the package. Its progress is the prefix it has
 * received contiguously from byte 0; a response that starts inside that prefix extends it,
 * and one that also reaches the last byte completes a download. So a resumed download
 * counts, and a read of the end alone (zip readers begin with the end record) does not.
 */
export async function downloadProgress(
  env: Env,
  t: TransferRow,
  terminalId: string,
  start: number,
  sent: number,
): Promise<void> {
  // one D1 statement: it also runs ahead of a download's pieces (./progress.ts)
  const prefix = await extendServed(env.DB, t.id, terminalId, start, start + sent);
  if (prefix === null) return; // not a recipient, or a gap after the prefix
  if (start + sent >= (t.package_size ?? 0)) await downloadComplete(env, t.id, terminalId);
}

/** Records a recipient's complete download; sends the receipt; enforces maxDownloads. */
export async function downloadComplete(env: Env, transferId: string, terminalId: string, now = Date.now()): Promise<void> {
  const { first } = await recordDownload(env.DB, transferId, terminalId, now);
  const t = await getTransfer(env.DB, transferId);
  if (!t) return;
  if (t.max_downloads !== null && t.downloads >= t.max_downloads) await expireNow(env.DB, transferId, now);
  if (first) await notifyDownloaded(env, t, terminalId, now);
}
