import type { Downloader } from "../auth/access";
import { ApiError, conflict, gone } from "../errors";
import { baseName } from "../package/names";
import { shownFileName } from "../present";
import { FINISH_MS } from "../config";
import { effectiveStatus, isUsedUp, mayFinish } from "../lifecycle";
import { countStart, extendServed } from "../store/delivery";
import { frameKey } from "../store/keys";
import { getObject, objectsInOrder, type ObjectsInOrder } from "../store/objects";
import type { FileRow, RecipientRow, TransferRecord, TransferRow } from "../store/transfers";
import { isSealOf, spansOf, type FileAt } from "./coverage";
import { contentDisposition } from "./disposition";
import { filePieces, packagePieces, type FileLayout, type Piece, type StoredPart } from "./pieces";
import { recordAhead } from "./progress";
import { etagMatches, parseRange } from "./range";
import { recipientHasIt } from "./receipt";

/**
 * Step 4 of the flow: stream the package (or one file of it) from R2 to the client, with
 * Range, ETag and If-None-Match. The package is put together as it goes out: its frame
 * object's bytes and the files' part objects, each piped natively into one
 * FixedLengthStream (src/deliver/pieces.ts says which bytes come from where). One file is
 * a range read of the package at its data offset: every entry is stored, so its bytes are
 * its part objects, unchanged.
 *
 * What a recipient is served is recorded file by file (./coverage.ts): once every file's bytes
 * have been served to it, as the package or file by file, in one response or resumed, it has
 * the transfer (./receipt.ts). `maxDownloads` counts starts: a response from byte 0 of the
 * package or of a file, by a recipient; a start beyond the limit is 410, and the recipient of
 * a counted start may finish it (a `Range` past byte 0) for FINISH_MS after it (../lifecycle.ts).
 */


/**
 * Whether a transfer can be downloaded now, and why not. Once `maxDownloads` is used up, only
 * a recipient whose counted start is less than FINISH_MS old (`mayFinish`) may go on (and only
 * to finish: a new start is refused by countStart); everyone else gets 410
 * download_limit_reached, also once the files are gone. `mayGoOn` says the response may go out
 * anyway while the files are there: a recipient finishing its start, or anyone allowed to read
 * a sealed transfer's `seal.age` (never a start; see serveFile).
 */
function assertDownloadable(t: TransferRow, now: number, mayGoOn = false): void {
  const status = effectiveStatus(t, now);
  if (isUsedUp(t) && (status === "expired" || status === "ready" || status === "delivered")) {
    if (!(mayGoOn && status !== "expired" && t.purged_at === null)) {
      throw limitReached(t);
    }
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

const limitReached = (t: TransferRow) =>
  gone("download_limit_reached", `This transfer could be downloaded ${t.max_downloads} time(s); that is used up.`);

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
 * What a response by a recipient (whose downloads count) does besides sending bytes.
 *
 * `start` is awaited before a response with a body from byte 0 goes out (a start of a download):
 * it counts it, or throws 410 when `maxDownloads` is used up.
 *
 * `served` is told which bytes the response is credited with, [start, start + credited), and
 * which of them went out in whole pieces, [start, start + sent): ahead of its bytes while it
 * runs (./progress.ts; `sent` 0), and once it has ended, whole or cut short. A whole response
 * is credited with all it sent. One cut short is credited to the end of the piece (a header
 * block, a part object) it was sending, but never with its own last byte: the server cannot
 * tell, without counting bytes, how much of that piece the client got, and a client resumes
 * from what it has (`Range: bytes=<have>-`), which must start inside what is credited for the
 * resumed download to count. Only bytes sent in whole pieces (and those a joined resume says
 * the client has) make a recipient have a file.
 */
interface Counting {
  start: () => Promise<void>;
  served: (start: number, credited: number, sent: number) => Promise<void>;
}

async function serve(
  env: Env,
  request: Request,
  s: Slice,
  counting: Counting | null,
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
    if (length === 0 && counting && request.method !== "HEAD") waitUntil(counting.served(start, 0, 0));
    return new Response(null, { status, headers });
  }
  // a body from byte 0: a start (counted, or refused when maxDownloads is used up)
  if (start === 0 && counting) await counting.start();

  const pieces = s.pieces(start, start + length);
  const only = pieces.length === 1 ? pieces[0]! : null;
  if (only?.from === "object" && !counting) {
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
  const ahead = counting ? recordAhead((upTo) => counting.served(start, upTo, 0), length) : null;
  const piped = pipePieces(pieces, objects, frame, out.writable, ahead);
  waitUntil(
    counting
      ? piped.then(({ sent, reached }) => counting.served(start, sent === length ? length : Math.min(reached, length - 1), sent))
      : piped,
  );
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

/** The recipient row of a downloader whose downloads count (null for the sender). */
function recipientOf(rec: TransferRecord, who: Downloader): RecipientRow | null {
  return who.counts ? (rec.recipients.find((r) => r.terminal_id === who.terminalId) ?? null) : null;
}

/** What a recipient's response counts: its start, and the file bytes it carries (`files`: where they sit in it). */
function counting(env: Env, t: TransferRow, terminalId: string, files: readonly FileAt[], now: number): Counting {
  return {
    async start() {
      if (!(await countStart(env.DB, t.id, terminalId, now, FINISH_MS))) throw limitReached(t);
    },
    served: (start, credited, sent) => recordServed(env, t.id, terminalId, files, start, credited, sent),
  };
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
  const mine = recipientOf(rec, who);
  assertDownloadable(t, now, mayFinish(mine, now));
  const layout = layoutOf(rec);
  // a sealed transfer's seal.age counts for nothing; a sealed text (seal.age alone) is had by
  // its ack (./read.ts), so fetching its package counts nothing, not even a start
  const files = rec.files.filter((f) => !isSealOf(t, f)).map((f) => ({ idx: f.idx, offset: f.data_offset ?? 0, size: f.size }));
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
    mine && files.length > 0 ? counting(env, t, mine.terminal_id, files, now) : null,
    waitUntil,
  );
}

/**
 * One file. A sealed transfer's `seal.age` is read, not downloaded (v1.2): it is never a start
 * and never counts toward the receipt, and it may be fetched (by the sender, a recipient, or a
 * recipient's link) as long as the files are there, even once `maxDownloads` is used up, as the
 * message and names of a plain Transfer stay readable then: it is what tells a recipient what
 * the transfer was (and, for a sealed text, it is the message).
 */
export async function serveFile(
  env: Env,
  request: Request,
  rec: TransferRecord,
  file: FileRow,
  who: Downloader,
  waitUntil: (p: Promise<unknown>) => void,
  now = Date.now(),
): Promise<Response> {
  const t = rec.transfer;
  const seal = isSealOf(t, file);
  const mine = seal ? null : recipientOf(rec, who);
  assertDownloadable(t, now, seal || mayFinish(mine, now));
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
      filename: baseName(shownFileName(file.name, file.idx)),
    },
    mine ? counting(env, t, mine.terminal_id, [{ idx: file.idx, offset: 0, size: file.size }], now) : null,
    waitUntil,
  );
}

/**
 * Records the file bytes a response to a recipient is credited with (bytes [start, start +
 * credited) of what it served, of which [start, start + sent) went out in whole pieces; `files`
 * say where each file's bytes sit in it), where they join what was served of each file before.
 * When every file's bytes are then had, the recipient has the transfer (./receipt.ts). Bytes
 * recorded ahead, or credited to a piece cut short, are only where a resume may start; a read
 * of the ZIP's end alone carries no file bytes.
 */
export async function recordServed(
  env: Env,
  transferId: string,
  terminalId: string,
  files: readonly FileAt[],
  start: number,
  credited: number,
  sent: number,
): Promise<void> {
  const spans = spansOf(files, start, start + credited, start + sent);
  if (spans.length === 0) return;
  const { complete } = await extendServed(env.DB, transferId, terminalId, spans);
  if (complete) await recipientHasIt(env, transferId, terminalId);
}
