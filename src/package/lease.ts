import { renewPackageLease } from "../store/transfers";

/**
 * The packaging lease, kept short and renewed while the work goes on: a holder that dies
 * (a crash, a killed process) is noticed within PACKAGE_LEASE_MS, and the sweep queues the
 * job again, instead of a quarter of an hour later. The lease's end is also its holder's
 * token (see claimPackageLease): each renewal hands the holder a new one.
 */

/** How long a packaging attempt holds its lease without renewing it. */
export const PACKAGE_LEASE_MS = 30_000;
/** How often a holder renews it: a few renewals may fail (a slow D1) before the lease runs out. */
export const LEASE_RENEW_MS = 10_000;

export interface HeldLease {
  /** the lease's current end (the holder's token) */
  current(): number;
  /** stops renewing; the lease then runs out unless released or finished */
  stop(): void;
}

/** Renews `lease` every `everyMs` until stopped, or until it turns out another attempt holds it. */
export function keepLease(env: Env, transferId: string, lease: number, leaseMs = PACKAGE_LEASE_MS, everyMs = LEASE_RENEW_MS): HeldLease {
  let current = lease;
  let busy = false;
  const timer = setInterval(async () => {
    if (busy) return;
    busy = true;
    try {
      const renewed = await renewPackageLease(env.DB, transferId, current, Date.now() + leaseMs);
      if (renewed === null) {
        // finished, released, cancelled, or taken over after it ran out: nothing left to keep
        clearInterval(timer);
        return;
      }
      current = renewed;
    } catch (e) {
      console.warn(JSON.stringify({ event: "lease_renewal_failed", transfer: transferId, error: String(e) }));
    } finally {
      busy = false;
    }
  }, everyMs);
  return { current: () => current, stop: () => clearInterval(timer) };
}
