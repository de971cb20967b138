import { cancelTransfer } from "../expire";
import { effectiveStatus } from "../lifecycle";
import { notifyEnded } from "../notify/producers";
import { heldFrom, refusedHeld, settleReleases, withdrawRecipient, type HeldFrom } from "../store/quotas";
import { getTransferRecord, type TransferRecord } from "../store/transfers";

/**
 * A recipient lets go of what a sender holds for it: blocking a sender releases that sender's
 * transfers to it, and switching to `accept: "known"` releases those of every sender that is not
 * a contact. Only transfers it has not downloaded and that have not ended are concerned.
 *
 * The recipient is withdrawn from each such transfer: it leaves the transfer's `to` and
 * `recipients` (it can no longer download it, it leaves its inbox, and its bytes stop counting
 * against its quota); if it had been told of the transfer it gets `transfer.cancelled`. Other
 * recipients keep the transfer as it was. A transfer left with no recipient is cancelled as by
 * the sender's DELETE (its files removed) and the sender gets `transfer.cancelled`.
 */
export async function releaseHeld(env: Env, terminalId: string, from: HeldFrom, now = Date.now(), max = RELEASED_AT_ONCE): Promise<number> {
  let released = 0;
  for (const id of await heldFrom(env.DB, terminalId, from, now, max)) if (await tryWithdraw(env, id, terminalId, now)) released++;
  return released;
}

/** One release; a failure is logged and left to the sweep (the block or the switch is recorded already). */
async function tryWithdraw(env: Env, transferId: string, terminalId: string, now: number): Promise<boolean> {
  try {
    const rec = await getTransferRecord(env.DB, transferId);
    return rec !== null && (await withdraw(env, rec, terminalId, now));
  } catch (e) {
    console.error(JSON.stringify({ event: "release_failed", transfer: transferId, terminal: terminalId, error: String(e) }));
    return false;
  }
}

/**
 * How many transfers the request that blocks (or switches to `accept: "known"`) releases
 * itself, oldest first: each costs a few storage calls, and a request may make only so many.
 * The sweep releases the rest (releaseRefused).
 */
export const RELEASED_AT_ONCE = 50;

/** The sweep's part: releases what senders still hold for recipients that refuse them (a block or a switch left more than one request releases). */
export async function releaseRefused(env: Env, now = Date.now(), batch = 100): Promise<number> {
  let released = 0;
  for (const { transferId, terminalId } of await refusedHeld(env.DB, now, batch)) if (await tryWithdraw(env, transferId, terminalId, now)) released++;
  // terminals with nothing refused left are looked at no more (until they refuse someone again)
  await settleReleases(env.DB, Date.now(), now);
  if (released > 0) console.log(JSON.stringify({ event: "released", transfers: released }));
  return released;
}

async function withdraw(env: Env, rec: TransferRecord, terminalId: string, now: number): Promise<boolean> {
  const t = rec.transfer;
  const { withdrawn, left } = await withdrawRecipient(env.DB, t.id, terminalId);
  if (!withdrawn) return false; // downloaded or withdrawn meanwhile
  const me = rec.recipients.filter((r) => r.terminal_id === terminalId);
  if (left === 0) {
    // nobody left to receive it: cancelled as the sender's DELETE would (its files removed; the
    // recipient hears of it if it had been told), and the sender is told it was cancelled
    await cancelTransfer(env, { ...rec, recipients: me }, now);
    if (effectiveStatus(t, now) === "expired") return true; // it ended as expired: everyone was told so
    await notifyEnded(env, { ...rec, recipients: [] }, "transfer.cancelled", true);
    return true;
  }
  // recipients only know of a transfer once it is ready: the others keep it
  if (t.status === "ready" || t.status === "delivered") await notifyEnded(env, { ...rec, recipients: me }, "transfer.cancelled");
  return true;
}
