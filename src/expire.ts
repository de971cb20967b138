import { IDEMPOTENCY_MS } from "./config";
import { effectiveStatus } from "./lifecycle";
import { forgetIdempotencyKeys } from "./store/idempotency";
import { notifyEnded, terminalStub } from "./notify/producers";
import { frameKey, uploadPrefix } from "./store/keys";
import { deleteObjects, deletePrefix } from "./store/objects";
import { markEraseFailed, markTerminalErased, unerasedTerminals } from "./store/terminals";
import { enqueuePackaging } from "./package/jobs";
import {
  deletedSendersWithTransfers,
  dueForExpiry,
  getTransferRecord,
  markPurged,
  setStatus,
  stalledPackaging,
  type TransferRecord,
  undeliveredSentBy,
} from "./store/transfers";

/**
 * A transfer whose packaging has not started this long after its last byte gets its job
 * again (its queue message was lost: locally the queue lives in memory and dies with the
 * process). A duplicate of a job still queued is harmless: the packaging lease lets one run.
 */
export const STALLED_PACKAGING_MS = 30_000;

/**
 * The end of a transfer's life: the cron sweep (expiry, download limit reached) and the
 * sender's DELETE. Both remove every R2 object of the transfer (its uploaded parts and the
 * package's frame), keep its metadata with its end status, and tell the
 * terminals concerned.
 */

export async function purgeObjects(env: Env, rec: TransferRecord): Promise<void> {
  const t = rec.transfer;
  // every part object ever stored for it (also those an interrupted request left behind)
  await deletePrefix(env.BUCKET, uploadPrefix(t.id));
  await deleteObjects(env.BUCKET, [frameKey(t.id)]);
}

/**
 * One pass of the cron: every transfer past its expiry is purged and marked; a transfer
 * whose packaging job was lost is queued again (packaging is idempotent); Idempotency-Keys
 * older than a day are forgotten.
 */
export async function sweep(env: Env, now = Date.now(), batch = 100): Promise<number> {
  let done = 0;
  const tried = new Set<string>();
  for (;;) {
    const due = (await dueForExpiry(env.DB, now, batch + tried.size)).filter((t) => !tried.has(t.id));
    if (due.length === 0) break;
    for (const t of due) {
      tried.add(t.id);
      const rec = await getTransferRecord(env.DB, t.id);
      if (!rec) continue;
      try {
        await purgeExpired(env, rec, Date.now());
        done++;
      } catch (e) {
        console.error(JSON.stringify({ event: "expiry_failed", transfer: t.id, error: String(e) }));
      }
    }
  }
  if (done > 0) console.log(JSON.stringify({ event: "swept", transfers: done }));
  // a terminal deleted while its DELETE could not erase its object or cancel all it had sent: finish that
  for (const id of await unerasedTerminals(env.DB, batch)) {
    try {
      await eraseDeleted(env, id, now);
    } catch (e) {
      console.error(JSON.stringify({ event: "terminal_erase_failed", terminal: id, error: String(e) }));
      // the others come first next time (a D1 that fails here must not end the sweep)
      await markEraseFailed(env.DB, id, now).catch((e2) => console.error(JSON.stringify({ event: "terminal_erase_mark_failed", terminal: id, error: String(e2) })));
    }
  }
  for (const sender of await deletedSendersWithTransfers(env.DB)) await cancelSentBy(env, sender);
  // Idempotency-Keys past their 24 hours answer nothing any more: forget them
  await forgetIdempotencyKeys(env.DB, now - IDEMPOTENCY_MS);
  for (const id of await stalledPackaging(env.DB, now - STALLED_PACKAGING_MS, now)) {
    console.warn(JSON.stringify({ event: "packaging_requeued", transfer: id }));
    await enqueuePackaging(env, id);
  }
  return done;
}

/**
 * Removes an expired transfer's objects, marks it, and tells the terminals concerned. Only
 * the call that marks it tells them (the sweep and a DELETE may both come to it).
 */
async function purgeExpired(env: Env, rec: TransferRecord, now: number): Promise<void> {
  const t = rec.transfer;
  await purgeObjects(env, rec);
  const status = await markPurged(env.DB, t.id, now, "expired");
  if (status === "expired" && t.status !== "expired") {
    // recipients only know of a transfer once it was ready; before that only the sender is told
    const announced = t.status === "ready" || t.status === "delivered";
    await notifyEnded(env, announced ? rec : { ...rec, recipients: [] }, "transfer.expired");
  }
}

/** The sender's `DELETE /v1/transfers/{id}`. */
export async function cancelTransfer(env: Env, rec: TransferRecord, now = Date.now()): Promise<void> {
  const t = rec.transfer;
  if (t.purged_at !== null) return; // nothing left to remove: DELETE is idempotent
  // expired already, not yet swept: it stays expired, and the terminals hear so now
  if (effectiveStatus(t, now) === "expired") return purgeExpired(env, rec, now);
  await setStatus(env.DB, t.id, "cancelled", ["uploading", "packaging", "ready", "delivered", "failed"]);
  await purgeObjects(env, rec);
  await markPurged(env.DB, t.id, now, "cancelled");
  if (t.status === "ready" || t.status === "delivered") await notifyEnded(env, rec, "transfer.cancelled");
}

/** Erases a deleted terminal's Durable Object (idempotent), then records that it was. */
export async function eraseDeleted(env: Env, id: string, now = Date.now()): Promise<void> {
  await terminalStub(env, id).erase();
  await markTerminalErased(env.DB, id, now);
}

/** Cancels every transfer `senderId` sent that is neither delivered nor ended (its terminal is deleted). */
export async function cancelSentBy(env: Env, senderId: string): Promise<number> {
  let n = 0;
  for (const id of await undeliveredSentBy(env.DB, senderId)) {
    const rec = await getTransferRecord(env.DB, id);
    if (rec) {
      await cancelTransfer(env, rec);
      n++;
    }
  }
  return n;
}
