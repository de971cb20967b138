import { ApiError, badRequest, conflict, gone, tooLarge } from "../errors";
import { packageSoon, partStored } from "../package/consumer";
import type { Defer } from "../package/jobs";
import { effectiveStatus, hasFailedToDeliver } from "../lifecycle";
import { assertPartFits, inboxQuota, partInboxFull } from "../limits/quotas";
import { newNonce, partKey } from "../store/keys";
import { BodyLengthError, deleteObjects, putExactly } from "../store/objects";
import { recordPart, type FileRow, type TransferRow, type UploadRecord } from "../store/transfers";
import { isMultipart, partCount, partLength } from "./parts";

/**
 * Step 1, the bytes: a file's body (or one part of it) goes from the request into R2
 * natively (src/store/objects.ts putExactly: no JavaScript per chunk), into an object of its
 * own that D1 then names as that part. Only what D1 names counts, so an overrun, a short
 * body, a dropped connection or an upload that lost a race leaves nothing that is read.
 * When the last byte of the last file is in, the transfer moves to `packaging` by itself.
 */

export interface UploadTarget {
  transfer: TransferRow;
  file: FileRow;
}

function assertUploading(t: TransferRow, now: number): void {
  const status = effectiveStatus(t, now);
  if (status === "expired") throw gone("transfer_expired", "This transfer has expired.");
  if (status !== "uploading") {
    throw conflict("not_uploading", `This transfer is ${status}: its files can no longer be changed.`);
  }
}

/** Checks a declared Content-Length against what the body must be, before reading it. */
function checkDeclaredLength(declared: number | null, expected: number, what: string): void {
  if (declared === null) return;
  if (declared > expected) throw tooLarge("body_too_large", `${what} is ${expected} bytes; the request declares ${declared}.`);
  if (declared < expected) {
    throw badRequest("body_too_short", `${what} is ${expected} bytes; the request declares only ${declared}. Send it whole.`);
  }
}

/** How workerd says that a request body stopped before its end. */
const DROPPED = /disconnected|connection lost|premature|aborted/i;

/** Turns a failed R2 write into the right answer: the client's fault (4xx) or ours (5xx). */
function translate(e: unknown, body: ReadableStream | null, expected: number, what: string): never {
  if (e instanceof BodyLengthError) {
    if (e.kind === "over") throw tooLarge("body_too_large", `${what} is ${expected} bytes; more arrived. Nothing was kept.`);
    throw badRequest("body_too_short", `${what} is ${expected} bytes; the body ended before that. Nothing was kept.`);
  }
  if (e instanceof ApiError) throw e;
  if (body && DROPPED.test(String(e))) {
    // the request body failed under us: the client stopped sending (a dropped connection)
    console.warn(JSON.stringify({ event: "upload_interrupted", error: String(e) }));
    throw badRequest("upload_interrupted", `${what} did not arrive whole. Send it again.`);
  }
  throw e; // storage failed with the body intact: a server fault (500, logged)
}

/**
 * What an upload leaves behind, when it recorded a part: the transfer, the file and its parts
 * as D1 had them right after (null: nothing was recorded; read them if you need them).
 */
export type Received = UploadRecord | null;

/** `PUT …/files/{index}` (a file of at most one part) or `?part=1` of such a file. */
export async function receiveWholeFile(
  env: Env,
  { transfer, file }: UploadTarget,
  body: ReadableStream<Uint8Array> | null,
  declaredLength: number | null,
  now: number,
  defer: Defer,
): Promise<Received> {
  if (file.size === 0 && file.completed_at !== null) {
    // an empty file is complete from the start: sending its (empty) body is a no-op while the
    // transfer lives (a client that sends every file in turn may send it after the others
    // started the packaging); an ended transfer answers as it does for any file
    if (hasFailedToDeliver(transfer, now)) assertUploading(transfer, now);
    if (body) await assertEmpty(body, `File ${file.idx}`);
    return null;
  }
  assertUploading(transfer, now);
  if (isMultipart(file.size, file.part_size)) {
    throw badRequest(
      "parts_required",
      `This file is ${file.size} bytes, more than one part (${file.part_size}): send it as ?part=1..${partCount(file.size, file.part_size)}.`,
    );
  }
  return receiveBytes(env, transfer, file, 1, body, declaredLength, defer);
}

/** `PUT …/files/{index}?part=n` of a file larger than one part. Parts may come in any order, and again. */
export async function receivePart(
  env: Env,
  { transfer, file }: UploadTarget,
  part: number,
  body: ReadableStream<Uint8Array> | null,
  declaredLength: number | null,
  now: number,
  defer: Defer,
): Promise<Received> {
  if (!isMultipart(file.size, file.part_size)) {
    if (part === 1) return receiveWholeFile(env, { transfer, file }, body, declaredLength, now, defer);
    throw badRequest("invalid_part", `This file has one part; part ${part} does not exist.`);
  }
  assertUploading(transfer, now);
  const count = partCount(file.size, file.part_size);
  if (part < 1 || part > count) throw badRequest("invalid_part", `Parts of this file are numbered 1 to ${count}.`);
  if (file.completed_at !== null) throw conflict("file_complete", `File ${file.idx} is complete already.`);
  return receiveBytes(env, transfer, file, part, body, declaredLength, defer);
}

async function receiveBytes(
  env: Env,
  transfer: TransferRow,
  file: FileRow,
  part: number,
  body: ReadableStream<Uint8Array> | null,
  declaredLength: number | null,
  defer: Defer,
): Promise<Received> {
  const expected = partLength(file.size, file.part_size, part);
  const what = isMultipart(file.size, file.part_size) ? `Part ${part} of file ${file.idx}` : `File ${file.idx}`;
  checkDeclaredLength(declaredLength, expected, what);
  if (expected === 0) return null; // (an empty file is complete from the start)
  // the recipients' inboxes count what is really there: a part that would overfill one is
  // refused before a byte is read (413 inbox_full), and may be sent again once there is room
  await assertPartFits(env, transfer.id, file.idx, part, expected, Date.now());

  const key = partKey(transfer.id, file.idx, part, newNonce());
  let stored: R2Object;
  try {
    stored = await putExactly(env.BUCKET, key, body ?? new ReadableStream({ start: (c) => c.close() }), expected, declaredLength, file.type);
  } catch (e) {
    // R2 may hold the first bytes of an overrun under this key: no one reads it; drop it
    defer(deleteObjects(env.BUCKET, [key]).catch(() => {}));
    translate(e, body, expected, what);
  }
  const now = Date.now();
  const count = partCount(file.size, file.part_size);
  // recorded only if every inbox still has room: parts that passed the check above at once cannot overfill one together
  const r = await recordPart(env.DB, { transfer_id: transfer.id, idx: file.idx, part, size: expected, etag: stored.etag, object_key: key }, count, now, inboxQuota(env));
  if (r.replaced) defer(deleteObjects(env.BUCKET, [r.replaced]).catch(() => {}));
  if (!r.recorded) {
    await deleteObjects(env.BUCKET, [key]);
    // the answer says why recordPart refused, as it decided (room that opened since changes nothing)
    if (r.refused === "inbox_full") throw partInboxFull(env, r.full);
    if (completedMeanwhile(r.after, file.idx, now)) return null;
    throw conflict("not_uploading", "This transfer's files were removed while the upload ran.");
  }
  partStored(env, transfer, r.files, { idx: file.idx, part, key, size: expected }, defer);
  if (r.packagingStarted) await packageSoon(env, transfer.id, transfer.total_size, r.files, defer);
  return r.after;
}

/**
 * The bytes arrived but the transfer took them no more (`after`: the transfer and the file as
 * recordPart read them in its transaction): it ended (cancelled, expired) or moved on while
 * they streamed (throws the answer any upload to it now gets). A file that another request
 * completed meanwhile needs nothing more: that is a success (true).
 */
function completedMeanwhile(after: UploadRecord | null, idx: number, now: number): boolean {
  if (!after) throw gone("transfer_cancelled", "This transfer was removed while the upload ran.");
  const t = after.transfer;
  if (after.file?.idx === idx && after.file.completed_at != null && !hasFailedToDeliver(t, now) && t.purged_at === null) return true;
  assertUploading(t, now); // throws: 410 expired, 409 cancelled or moved on
  return false;
}

async function assertEmpty(body: ReadableStream<Uint8Array>, what: string): Promise<void> {
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    if (value.byteLength > 0) {
      await reader.cancel().catch(() => {});
      throw tooLarge("body_too_large", `${what} is empty (0 bytes); the body is not.`);
    }
  }
}
