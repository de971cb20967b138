/**
 * D1: `Idempotency-Key`s of `POST /v1/transfers` (migrations/0010): which transfer a sender's
 * key created, and from which request (its hash), for IDEMPOTENCY_MS. The only SQL about them.
 */

export interface IdempotencyRow {
  transfer_id: string;
  request_hash: string;
}

/** A sender's key and its request, as recorded with the transfer it creates (in the same transaction); a row of the key from before `since` is stale. */
export interface IdempotencyClaim {
  key: string;
  requestHash: string;
  since: number;
}

/** The transfer a sender's key created since `claim.since`, or null. */
export function findIdempotent(db: D1Database, senderId: string, claim: IdempotencyClaim): Promise<IdempotencyRow | null> {
  return db
    .prepare("SELECT transfer_id, request_hash FROM idempotency_keys WHERE sender_id = ?1 AND key = ?2 AND created_at > ?3")
    .bind(senderId, claim.key, claim.since)
    .first<IdempotencyRow>();
}

/**
 * The statements that record a claim with the transfer it creates (insertTransfer's batch): a
 * stale row of the same key (from before `claim.since`) is dropped first; a live one makes the INSERT
 * fail, and with it the whole batch, so two requests with one key create one transfer.
 */
export function claimStatements(db: D1Database, senderId: string, claim: IdempotencyClaim, transferId: string, now: number): D1PreparedStatement[] {
  return [
    db.prepare("DELETE FROM idempotency_keys WHERE sender_id = ?1 AND key = ?2 AND created_at <= ?3").bind(senderId, claim.key, claim.since),
    db
      .prepare("INSERT INTO idempotency_keys (sender_id, key, request_hash, transfer_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5)")
      .bind(senderId, claim.key, claim.requestHash, transferId, now),
  ];
}

/** Whether a D1 error is a claim that lost to a live row of the same key. */
export const isClaimTaken = (e: unknown) => /UNIQUE constraint failed: idempotency_keys/i.test(String(e));

/** Forgets keys recorded before `before` (the cron sweep); returns how many. */
export async function forgetIdempotencyKeys(db: D1Database, before: number, limit = 1000): Promise<number> {
  const res = await db
    .prepare("DELETE FROM idempotency_keys WHERE (sender_id, key) IN (SELECT sender_id, key FROM idempotency_keys WHERE created_at < ?1 LIMIT ?2)")
    .bind(before, limit)
    .run();
  return res.meta.changes;
}
