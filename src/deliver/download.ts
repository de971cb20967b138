import type { Downloader } from "../auth/access";
import { ApiError, conflict, gone, notFound } from "../errors";
import { notifyDownloaded } from "../notify";
import { baseName } from "../package/names";
import { effectiveStatus } from "../lifecycle";
import { packageKey } from "../store/keys";
import { getObject } from "../store/objects";
import {
  advanceServed,
  expireNow,
  getTransfer,
  recordDownload,
  servedTo,
  type FileRow,
  type TransferRow,
} from "../store/transfers";
import { contentDisposition } from "./disposition";
import { etagMatches, parseRange } from "./range";

/**
 * Step 4 of the flow: stream the package (or one file of it) from R2 to the client, with
 * Range, ETag and If-None-Match. One file is a range read of the package: every entry is
 * stored, so its bytes sit unchanged at a known offset. When a recipient's download of
 * the package reaches its last byte, the download is recorded, the sender gets its
 * receipt, and the transfer becomes `delivered` once every recipient has it.
 */


function assertDownloadable(t: TransferRow, now: number): void {
  const status = effectiveStatus(t, now);
  // the download that uses up maxDownloads also ends the transfer (expireNow): say why it is gone
  const usedUp = t.max_downloads !== null && t.downloads >= t.max_downloads;
  if (usedUp && (status === "expired" || status === "ready" || status === "delivered")) {
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
  key: string;
  /** where the representation starts in the R2 object */
  base: number;
  size: number;
  etag: string;
  type: string;
  filename: string;
}

/** Told, once a response has ended (whole or cut short), which bytes it sent: [start, start + sent). */
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

  const obj = await getObject(env.BUCKET, s.key, { offset: s.base + start, length });
  if (!obj || !("body" in obj)) throw gone("transfer_expired", "This transfer's files are gone.");
  // A FixedLengthStream keeps Content-Length on the response. The pipe into it settles once
  // the client has taken the last byte, or has gone away; either way we learn what was sent.
  const fixed = new FixedLengthStream(length);
  if (!onServed) {
    waitUntil(obj.body.pipeTo(fixed.writable).catch(() => undefined));
    return new Response(fixed.readable, { status, headers });
  }
  let sent = 0;
  const counter = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, c) {
      sent += chunk.byteLength;
      c.enqueue(chunk);
    },
  });
  const piped = obj.body.pipeThrough(counter).pipeTo(fixed.writable);
  waitUntil(piped.catch(() => undefined).then(() => onServed(start, sent)));
  return new Response(fixed.readable, { status, headers });
}

export async function servePackage(
  env: Env,
  request: Request,
  t: TransferRow,
  who: Downloader,
  waitUntil: (p: Promise<unknown>) => void,
  now = Date.now(),
): Promise<Response> {
  assertDownloadable(t, now);
  return serve(
    env,
    request,
    {
      key: packageKey(t.id),
      base: 0,
      size: t.package_size!,
      etag: `"${t.package_sha256}"`,
      type: "application/zip",
      filename: `pushdrop-${t.id.slice(0, 8)}.zip`,
    },
    who.counts ? (start, sent) => downloadProgress(env, t, who.terminalId, start, sent) : null,
    waitUntil,
  );
}

export async function serveFile(
  env: Env,
  request: Request,
  t: TransferRow,
  file: FileRow | null,
  waitUntil: (p: Promise<unknown>) => void,
  now = Date.now(),
): Promise<Response> {
  assertDownloadable(t, now);
  if (!file) throw notFound("file_not_found", "This transfer has no file with that index.");
  if (file.data_offset === null || file.sha256 === null) throw conflict("not_ready", "This file is not packaged yet.");
  return serve(
    env,
    request,
    {
      key: packageKey(t.id),
      base: file.data_offset,
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
  const before = await servedTo(env.DB, t.id, terminalId);
  if (before === null || start > before) return; // not a recipient, or a gap after the prefix
  const size = t.package_size ?? 0;
  if (start + sent > before) await advanceServed(env.DB, t.id, terminalId, start + sent);
  if (start + sent >= size) await downloadComplete(env, t.id, terminalId);
}

/** Records a recipient's complete download; sends the receipt; enforces maxDownloads. */
export async function downloadComplete(env: Env, transferId: string, terminalId: string, now = Date.now()): Promise<void> {
  const { first } = await recordDownload(env.DB, transferId, terminalId, now);
  const t = await getTransfer(env.DB, transferId);
  if (!t) return;
  if (t.max_downloads !== null && t.downloads >= t.max_downloads) await expireNow(env.DB, transferId, now);
  if (first) await notifyDownloaded(env, t, terminalId, now);
}
