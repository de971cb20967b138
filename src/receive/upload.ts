import { ApiError, badRequest, conflict, gone, tooLarge } from "../errors";
import { enqueuePackaging } from "../package/jobs";
import { effectiveStatus, hasFailedToDeliver } from "../lifecycle";
import { uploadKey } from "../store/keys";
import { abortUpload, createUpload, deleteObjects, headObject, putObject, resumeUpload } from "../store/objects";
import {
  claimUploadId,
  getParts,
  getTransfer,
  markFileComplete,
  putPart,
  startPackaging,
  type FileRow,
  type TransferRow,
} from "../store/transfers";
import { BodyOverrunError, BodyShortError, countedBody, type Counted } from "./counting";
import { isMultipart, partCount, partLength } from "./parts";

/**
 * Step 1, the bytes: a file's body (or one part of it) streams from the request into R2,
 * counted on the way. When the last byte of the last file is in, the transfer moves to
 * `packaging` and its id goes to the queue: no extra call from the client.
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

/** Turns a failed R2 write into the right answer: the client's fault (4xx) or ours (5xx). */
function translate(e: unknown, counted: Counted, expected: number, what: string): never {
  const f = counted.failure();
  if (f instanceof BodyOverrunError) throw tooLarge("body_too_large", `${what} is ${f.expected} bytes; more arrived.`);
  if (f instanceof BodyShortError) {
    throw badRequest("body_too_short", `${what} is ${f.expected} bytes; the body ended after ${f.received}. Nothing was kept.`);
  }
  if (e instanceof ApiError) throw e;
  if (counted.count() < expected) {
    // the client stopped sending (a dropped connection): nothing was kept
    throw badRequest("upload_interrupted", `${what} did not arrive whole (${counted.count()} of ${expected} bytes). Send it again.`);
  }
  throw e; // every byte arrived and storage still failed: a server fault (500, logged)
}

/**
 * After bytes were written: the transfer may have ended (cancelled, expired) while they
 * streamed. Then what was just written must not outlive it: `cleanup` removes it, and the
 * client is told. A transfer that moved on to packaging keeps its files.
 */
async function stillUploading(env: Env, transferId: string, now: number, cleanup: () => Promise<unknown>): Promise<void> {
  const t = await getTransfer(env.DB, transferId);
  if (t && t.status === "uploading" && t.purged_at === null && t.expires_at > now) return;
  if (!t || t.purged_at !== null || hasFailedToDeliver(t, now)) {
    await cleanup().catch(() => {});
  }
  if (!t) throw gone("transfer_cancelled", "This transfer was removed while the upload ran.");
  assertUploading(t, now); // throws: 410 expired, 409 cancelled or moved on
  throw conflict("not_uploading", "This transfer's files were removed while the upload ran.");
}

/** `PUT …/files/{index}` (a file of at most one part) or `?part=1` of such a file. */
export async function receiveWholeFile(
  env: Env,
  { transfer, file }: UploadTarget,
  body: ReadableStream<Uint8Array> | null,
  declaredLength: number | null,
  now: number,
): Promise<void> {
  if (file.size === 0 && file.completed_at !== null) {
    // an empty file is complete from the start: sending its (empty) body is a no-op while the
    // transfer lives (a client that sends every file in turn may send it after the others
    // started the packaging); an ended transfer answers as it does for any file
    if (hasFailedToDeliver(transfer, now)) assertUploading(transfer, now);
    if (body) await assertEmpty(body, `File ${file.idx}`);
    return;
  }
  assertUploading(transfer, now);
  if (isMultipart(file.size, file.part_size)) {
    throw badRequest(
      "parts_required",
      `This file is ${file.size} bytes, more than one part (${file.part_size}): send it as ?part=1..${partCount(file.size, file.part_size)}.`,
    );
  }
  const what = `File ${file.idx}`;
  checkDeclaredLength(declaredLength, file.size, what);
  if (file.size > 0) {
    const key = uploadKey(transfer.id, file.idx);
    const counted = countedBody(body ?? emptyStream(), file.size);
    try {
      await putObject(env.BUCKET, key, counted.readable, file.type);
    } catch (e) {
      translate(e, counted, file.size, what);
    }
    await stillUploading(env, transfer.id, Date.now(), () => deleteObjects(env.BUCKET, [key]));
  } else if (body) {
    await assertEmpty(body, what);
  }
  await fileArrived(env, transfer.id, file.idx, now);
}

/** `PUT …/files/{index}?part=n` of a file larger than one part. Parts may come in any order, and again. */
export async function receivePart(
  env: Env,
  { transfer, file }: UploadTarget,
  part: number,
  body: ReadableStream<Uint8Array> | null,
  declaredLength: number | null,
  now: number,
): Promise<void> {
  if (!isMultipart(file.size, file.part_size)) {
    if (part === 1) return receiveWholeFile(env, { transfer, file }, body, declaredLength, now);
    throw badRequest("invalid_part", `This file has one part; part ${part} does not exist.`);
  }
  assertUploading(transfer, now);
  const count = partCount(file.size, file.part_size);
  if (part < 1 || part > count) throw badRequest("invalid_part", `Parts of this file are numbered 1 to ${count}.`);
  if (file.completed_at !== null) throw conflict("file_complete", `File ${file.idx} is complete already.`);
  const expected = partLength(file.size, file.part_size, part);
  const what = `Part ${part} of file ${file.idx}`;
  checkDeclaredLength(declaredLength, expected, what);

  const key = uploadKey(transfer.id, file.idx);
  let uploadId = file.upload_id;
  if (!uploadId) {
    const created = await createUpload(env.BUCKET, key, file.type);
    uploadId = await claimUploadId(env.DB, transfer.id, file.idx, created.uploadId);
    if (uploadId !== created.uploadId) await abortUpload(env.BUCKET, key, created.uploadId); // another request won the race
  }
  const upload = resumeUpload(env.BUCKET, key, uploadId);
  const counted = countedBody(body ?? emptyStream(), expected);
  let uploaded: R2UploadedPart;
  try {
    uploaded = await upload.uploadPart(part, counted.readable);
  } catch (e) {
    if (!counted.failure() && counted.count() === expected) {
      // every byte came, but the upload is gone: another request may have completed the
      // file meanwhile (or completed it and then failed to record that): check R2 itself
      const head = await headObject(env.BUCKET, key);
      if (head && head.size === file.size) return fileArrived(env, transfer.id, file.idx, now);
    }
    translate(e, counted, expected, what);
  }
  await stillUploading(env, transfer.id, Date.now(), () => abortUpload(env.BUCKET, key, uploadId));
  await putPart(env.DB, { transfer_id: transfer.id, idx: file.idx, part, size: expected, etag: uploaded.etag });

  const parts = await getParts(env.DB, transfer.id, file.idx);
  if (parts.length < count) return;
  try {
    await upload.complete(parts.map((p) => ({ partNumber: p.part, etag: p.etag })));
  } catch (e) {
    // a concurrent request with the last part may have completed it first
    const head = await headObject(env.BUCKET, key);
    if (!head || head.size !== file.size) {
      // The same part sent twice at once can leave R2 holding one copy and D1 the other's
      // ETag. Every part is still in place: sending any part again records a fresh ETag
      // and completes the file.
      console.warn(JSON.stringify({ event: "complete_failed", transfer: transfer.id, file: file.idx, error: String(e) }));
      throw conflict(
        "upload_conflict",
        `The parts of file ${file.idx} did not fit together (was a part sent twice at once?): send part ${part} again.`,
      );
    }
  }
  await fileArrived(env, transfer.id, file.idx, now);
}

async function fileArrived(env: Env, transferId: string, idx: number, now: number): Promise<void> {
  await markFileComplete(env.DB, transferId, idx, now);
  if (await startPackaging(env.DB, transferId)) await enqueuePackaging(env, transferId);
}

function emptyStream(): ReadableStream<Uint8Array> {
  return new ReadableStream({ start: (c) => c.close() });
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
