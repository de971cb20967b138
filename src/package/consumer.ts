import { INLINE_PACKAGE_BYTES, INLINE_PACKAGE_FILES } from "../config";
import { notifyEnded, notifyFailed, notifyKeyChanged, notifyReady } from "../notify/producers";
import { partCount } from "../receive/parts";
import { frameKey } from "../store/keys";
import { deleteObjects, objectsInOrder, putObject } from "../store/objects";
import {
  claimPackageLease,
  finishPackaging,
  getTransfer,
  getTransferRecord,
  noteFailure,
  releasePackageLease,
  setStatus,
  type TransferRecord,
} from "../store/transfers";
import { buildPackage, PackageSourceError, packageInput, type OpenFile, type PackageInput, type PackageResult } from "./build";
import { hasherOf, partRefs, type StoredPartRef } from "./hasher";
import { enqueuePackaging, type Defer, type Job } from "./jobs";
import { keepLease, PACKAGE_LEASE_MS } from "./lease";

export { PACKAGE_LEASE_MS };

/**
 * Step 2 of the flow: packaging. For each message the queue consumer takes the checksums
 * the transfer's PackageHasher computed while the parts were uploaded (./hasher.ts), or, when
 * it has none that fit, reads the uploaded parts once itself (CRC-32, SHA-256: ./build.ts);
 * then it writes the package's small frame object, records the package and notifies the
 * recipients. A small transfer is
 * packaged right after its last upload, in that request (packageSoon), without the queue. Idempotent: a redelivered message for a
 * transfer that is already packaged only re-runs the (idempotent) clean-up and
 * notification. Each message is acked or retried on its own; what keeps failing lands in
 * the dead-letter queue, whose consumer marks the transfer failed and tells the sender.
 *
 * Duplicate jobs are normal (queues deliver at least once; the sweep re-queues packaging
 * that looks stalled), so only the holder of the transfer's packaging lease touches the
 * package: it alone throws away a stale package upload and writes a new one. A duplicate
 * that finds a live lease held by another attempt is acked without touching R2 (the holder
 * finishes the job; were it to die, its lease runs out and the sweep queues the job again).
 */

export const DLQ_SUFFIX = "-dlq";

/** The lease of packaging done inside an upload request (small transfers: it takes milliseconds). */
export const INLINE_LEASE_MS = 60 * 1000;

/**
 * Packaging once the last byte is in: a small transfer at once, after the response to the
 * upload that completed it (no queue hop: the recipients hear of it within milliseconds);
 * a larger one through the queue. If the inline attempt fails, the queue takes over (its
 * lease was let go); if the request dies with it, the sweep requeues it once its lease ran out.
 */
export async function packageSoon(env: Env, transferId: string, totalSize: number, files: number, defer: Defer): Promise<void> {
  if (!packagedInline(totalSize, files)) return enqueuePackaging(env, transferId);
  defer(
    packageTransfer(env, transferId, INLINE_LEASE_MS).catch(async (e) => {
      if (e instanceof PackageSourceError) return failTransfer(env, transferId, e.message);
      console.warn(JSON.stringify({ event: "inline_packaging_failed", transfer: transferId, error: String(e) }));
      await enqueuePackaging(env, transferId);
    }),
  );
}

/** Whether a transfer is packaged in the request of its last upload (small: milliseconds). */
export const packagedInline = (totalSize: number, files: number) => totalSize <= INLINE_PACKAGE_BYTES && files <= INLINE_PACKAGE_FILES;

/** Whether a transfer's parts are read and hashed while it is uploaded (./hasher.ts): every one that goes through the queue. */
export const hashedEarly = (totalSize: number, files: number) => !packagedInline(totalSize, files);

/**
 * Step 1 tells step 2 of a part stored and recorded (after the response: the uploader
 * does not wait). Never fails: the packager reads the parts itself when the hasher has not.
 */
export function partStored(env: Env, transfer: { id: string; total_size: number }, files: number, part: StoredPartRef, defer: Defer): void {
  if (!hashedEarly(transfer.total_size, files)) return;
  defer(hasherOf(env, transfer.id).partStored(transfer.id, part).catch((e) => {
    console.warn(JSON.stringify({ event: "early_hashing_unavailable", transfer: transfer.id, error: String(e) }));
  }));
}

/** The package as the hasher read it while the upload ran, if it read exactly these parts. */
async function takeEarly(env: Env, rec: TransferRecord, input: PackageInput): Promise<PackageResult | null> {
  try {
    return await hasherOf(env, rec.transfer.id).take(rec.transfer.id, input, partRefs(rec));
  } catch (e) {
    console.warn(JSON.stringify({ event: "early_hashing_unavailable", transfer: rec.transfer.id, error: String(e) }));
    return null;
  }
}

export async function handleBatch(batch: MessageBatch<Job>, env: Env): Promise<void> {
  const dead = batch.queue.endsWith(DLQ_SUFFIX);
  for (const msg of batch.messages) {
    try {
      await handleJob(env, msg, dead);
    } catch (e) {
      // even the failure handling failed (D1 unreachable…): try this message again later
      console.error(JSON.stringify({ event: "job_error", queue: batch.queue, attempt: msg.attempts, error: String(e) }));
      msg.retry({ delaySeconds: Math.min(60, 2 ** msg.attempts) });
    }
  }
}

async function handleJob(env: Env, msg: Message<Job>, dead: boolean): Promise<void> {
  const job = msg.body;
  if (job?.kind === "key_changed" && typeof job.terminalId === "string" && Number.isSafeInteger(job.gen)) {
    // an announcement that kept failing is dropped (logged): the terminals see the key when they next look it up
    if (dead) console.error(JSON.stringify({ event: "key_announcement_dropped", terminal: job.terminalId, gen: job.gen }));
    else await notifyKeyChanged(env, job.terminalId, job.gen, typeof job.after === "string" ? job.after : undefined);
    return msg.ack();
  }
  if (!job || job.kind !== "package" || typeof job.transferId !== "string") {
    console.error("dropping a malformed job", JSON.stringify(job));
    return msg.ack();
  }
  if (dead) {
    await failTransfer(env, job.transferId, null);
    return msg.ack();
  }
  try {
    if ((await packageTransfer(env, job.transferId)) === "busy") {
      // another attempt holds a live lease and is writing the package: this duplicate is done
      console.log(JSON.stringify({ event: "packaging_busy", transfer: job.transferId, attempt: msg.attempts }));
    }
    msg.ack();
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    if (e instanceof PackageSourceError) {
      await failTransfer(env, job.transferId, reason);
      return msg.ack();
    }
    console.error(JSON.stringify({ event: "packaging_failed", transfer: job.transferId, attempt: msg.attempts, reason }));
    await noteFailure(env.DB, job.transferId, `packaging attempt ${msg.attempts} failed: ${reason}`).catch(() => {});
    msg.retry({ delaySeconds: Math.min(60, 2 ** msg.attempts) });
  }
}

/**
 * Packages one transfer, or does what is left after packaging. Returns "busy" (and touches
 * nothing) when another attempt holds a live packaging lease on it.
 */
export async function packageTransfer(env: Env, transferId: string, leaseMs = PACKAGE_LEASE_MS): Promise<"busy" | void> {
  const claim = await claimPackageLease(env.DB, transferId, Date.now(), leaseMs);
  const lease = claim.lease;
  if (lease === null) {
    if ((claim.status === "ready" || claim.status === "delivered") && claim.record) return afterPackaged(env, claim.record);
    // removed, cancelled, expired or failed meanwhile: nothing to do; still packaging: a live lease
    return claim.status === "packaging" && claim.purged_at === null ? "busy" : undefined;
  }

  // We hold the lease: no other attempt writes the frame until we finish or let go (were
  // one to, it would write the same bytes: packaging is deterministic).
  let moved: boolean;
  let result: PackageResult;
  let early: PackageResult | null = null;
  const key = frameKey(transferId);
  const rec = claim.record!;
  const t = rec.transfer;
  const held = keepLease(env, transferId, lease, leaseMs); // renewed while we work (package/lease.ts)
  try {
    const input = packageInput(rec);
    // read while the upload ran (./hasher.ts), or now
    early = hashedEarly(t.total_size, rec.files.length) ? await takeEarly(env, rec, input) : null;
    result = early ?? (await readParts(env, rec, input));
    await putObject(env.BUCKET, key, result.frame, "application/zip");
    moved = await finishPackaging(env.DB, t.id, { size: result.size, sha256: result.sha256 }, result.entries);
  } catch (e) {
    // let go at once, so that this message's retry (or any other attempt) can take over
    await releasePackageLease(env.DB, transferId, held.current()).catch(() => {});
    throw e;
  } finally {
    held.stop();
  }

  // moved: the record is what we just wrote (no need to read it back)
  const now = moved ? packagedRecord(rec, result) : await getTransferRecord(env.DB, transferId);
  if (!now) return;
  if (!moved && now.transfer.status !== "ready" && now.transfer.status !== "delivered") {
    // cancelled or expired while we worked: the frame must not outlive it
    await deleteObjects(env.BUCKET, [key]);
    return;
  }
  console.log(JSON.stringify({ event: "packaged", transfer: transferId, bytes: result.size, early: early !== null }));
  await afterPackaged(env, now);
}

/** The record as finishPackaging left it. */
function packagedRecord(rec: TransferRecord, r: PackageResult): TransferRecord {
  const entry = new Map(r.entries.map((e) => [e.idx, e]));
  return {
    ...rec,
    transfer: { ...rec.transfer, status: "ready", package_size: r.size, package_sha256: r.sha256, package_upload_id: null, package_lease_until: null },
    files: rec.files.map((f) => ({ ...f, ...entry.get(f.idx) })),
  };
}

/** The package, from the uploaded parts read now (the bodies fetched ahead of a failed read are cancelled). */
async function readParts(env: Env, rec: TransferRecord, input: PackageInput): Promise<PackageResult> {
  const parts = uploadedParts(env, rec);
  return buildPackage(input, parts.open).finally(() => parts.cancelRest());
}

/**
 * The uploaded bytes of each file: its part objects, in order, each checked against D1.
 * Files are opened in index order, so the gets run a few parts ahead across files.
 */
function uploadedParts(env: Env, rec: TransferRecord): { open: OpenFile; cancelRest: () => void } {
  const sizes = new Map(rec.files.map((f) => [f.idx, f.size]));
  const order = rec.parts.filter((p) => (sizes.get(p.idx) ?? 0) > 0);
  const objects = objectsInOrder(env.BUCKET, order.map((p) => ({ key: p.object_key })));
  const open: OpenFile = async function* (file) {
    if (file.size === 0) return;
    const row = rec.files[file.idx]!;
    const parts = order.filter((p) => p.idx === file.idx);
    if (parts.length !== partCount(file.size, row.part_size)) {
      throw new PackageSourceError(`file ${file.idx} has ${parts.length} of its ${partCount(file.size, row.part_size)} parts`);
    }
    for (const p of parts) {
      if (order[objects.taken] !== p) throw new Error(`packaging read file ${file.idx} out of order`);
      const obj = await objects.next();
      if (!obj) throw new PackageSourceError(`the uploaded bytes of file ${file.idx} (part ${p.part}) are missing`);
      if (obj.size !== p.size) throw new PackageSourceError(`part ${p.part} of file ${file.idx} has ${obj.size} bytes, not ${p.size}`);
      yield obj.body;
    }
  };
  return { open, cancelRest: () => objects.cancelRest() };
}

async function afterPackaged(env: Env, rec: TransferRecord): Promise<void> {
  await notifyReady(env, rec);
  // A cancel or expiry that landed between `ready` and these notices withdrew the ready
  // messages before they existed: withdraw them again (idempotent by message id).
  const after = await getTransfer(env.DB, rec.transfer.id);
  if (after && (after.status === "cancelled" || after.status === "expired")) {
    await notifyEnded(env, rec, after.status === "cancelled" ? "transfer.cancelled" : "transfer.expired");
  }
}

/** Ends a transfer as failed (packaging gave up) and tells the sender. */
export async function failTransfer(env: Env, transferId: string, reason: string | null): Promise<void> {
  const rec = await getTransferRecord(env.DB, transferId);
  if (!rec) return;
  const t = rec.transfer;
  if (reason === null && t.package_lease_until !== null && t.package_lease_until > Date.now()) {
    // a dead letter, but another attempt holds the lease and is still working: let it finish
    // (if it fails, its own retries end here again, with the lease released)
    console.warn(JSON.stringify({ event: "dead_letter_while_leased", transfer: t.id }));
    return;
  }
  const why = reason ?? t.failure ?? "packaging failed repeatedly";
  const moved = await setStatus(env.DB, t.id, "failed", ["uploading", "packaging"], { failure: why });
  if (moved) {
    console.error(JSON.stringify({ event: "transfer_failed", transfer: t.id, reason: why }));
    await notifyFailed(env, { ...t, status: "failed" }, why);
  }
}
