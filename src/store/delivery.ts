import { SEAL_NAME } from "../contract";

/**
 * D1: what each recipient has been served of a transfer (step 4), and what it did with it:
 * the file bytes served to it (table `served`, migrations/0008), its counted starts
 * (`transfers.downloads`, `recipients.started_at`), its receipt (`downloaded_at`) and when it
 * opened the transfer (`opened_at`). The only SQL about delivery.
 */

/**
 * A response's bytes of file `idx` (file offsets), from `from`: credited up to `to` (what a
 * resume may start within), and the recipient has them up to `has` (from ≤ has ≤ to).
 */
export interface FileSpan {
  idx: number;
  from: number;
  to: number;
  has: number;
}

/**
 * Extends a recipient's served prefix (`served_to`) and what it has (`has_to`) of each file
 * with a response's span of it, where the span joins the prefix (starts within it: a file's
 * prefix begins only with a span from its byte 0; joining says the client has the bytes before
 * it), and tells whether this completed the transfer for it: every file's `has_to` reaches its
 * size (but a sealed transfer's `seal.age`, which counts for nothing: src/deliver/coverage.ts
 * isSealOf), and its receipt is not recorded yet. One D1 transaction. A terminal that is not a
 * recipient gets nothing recorded (and `complete` false).
 */
export async function extendServed(db: D1Database, transferId: string, terminalId: string, spans: readonly FileSpan[]): Promise<{ complete: boolean }> {
  const json = JSON.stringify(spans);
  const [, , missing] = await db.batch([
    db
      .prepare(
        `INSERT OR IGNORE INTO served (transfer_id, terminal_id, idx, served_to, has_to)
         SELECT ?1, ?2, json_extract(value, '$.idx'), 0, 0 FROM json_each(?3)
         WHERE json_extract(value, '$.from') = 0
           AND EXISTS (SELECT 1 FROM recipients WHERE transfer_id = ?1 AND terminal_id = ?2)`,
      )
      .bind(transferId, terminalId, json),
    db
      .prepare(
        `UPDATE served SET served_to = MAX(served_to, json_extract(e.value, '$.to')), has_to = MAX(has_to, json_extract(e.value, '$.has'))
         FROM json_each(?3) AS e
         WHERE served.transfer_id = ?1 AND served.terminal_id = ?2 AND served.idx = json_extract(e.value, '$.idx')
           AND served.served_to >= json_extract(e.value, '$.from')`,
      )
      .bind(transferId, terminalId, json),
    db
      .prepare(
        `SELECT
           (SELECT COUNT(*) FROM transfer_files f WHERE f.transfer_id = ?1
              AND NOT (f.name = ?3 AND (SELECT sealed FROM transfers WHERE id = ?1) = 1)
              AND NOT EXISTS
              (SELECT 1 FROM served s WHERE s.transfer_id = ?1 AND s.terminal_id = ?2 AND s.idx = f.idx AND s.has_to >= f.size))
           + (SELECT COUNT(*) = 0 FROM recipients WHERE transfer_id = ?1 AND terminal_id = ?2 AND downloaded_at IS NULL) AS missing`,
      )
      .bind(transferId, terminalId, SEAL_NAME),
  ]);
  return { complete: (missing!.results as Array<{ missing: number }>)[0]!.missing === 0 };
}

/**
 * Counts a recipient's start of a download, if `maxDownloads` leaves room for it: the
 * transfer's `downloads` grows by one and the recipient's `started_at` is `now`. The start that
 * uses the limit up also brings the transfer's expiry to within `finishMs` (the files stay only
 * as long as that start may be finished). Atomic: of two starts for the last download, one
 * gets it. Returns false (and changes nothing) when the limit was already used up.
 */
export async function countStart(db: D1Database, transferId: string, terminalId: string, now: number, finishMs: number): Promise<boolean> {
  const [counted] = await db.batch([
    db
      .prepare(
        `UPDATE transfers SET downloads = downloads + 1
         WHERE id = ?1 AND (max_downloads IS NULL OR downloads < max_downloads)
           AND EXISTS (SELECT 1 FROM recipients WHERE transfer_id = ?1 AND terminal_id = ?2)`,
      )
      .bind(transferId, terminalId),
    // (changes(): the statement before, in this same transaction)
    db
      .prepare("UPDATE recipients SET started_at = ?3 WHERE transfer_id = ?1 AND terminal_id = ?2 AND changes() = 1")
      .bind(transferId, terminalId, now),
    db
      .prepare(
        `UPDATE transfers SET expires_at = MIN(expires_at, ?2)
         WHERE id = ?1 AND max_downloads IS NOT NULL AND downloads >= max_downloads`,
      )
      .bind(transferId, now + finishMs),
  ]);
  return counted!.meta.changes === 1;
}

/**
 * Records that a recipient has the transfer: its `downloaded_at` (first time only), and the
 * transfer becomes `delivered` once every recipient has it. `countRead` also counts it in
 * `downloads` (a message without files, which has no download to start). Returns whether this
 * was the recipient's first.
 */
export async function recordReceived(
  db: D1Database,
  transferId: string,
  terminalId: string,
  now: number,
  countRead = false,
): Promise<{ first: boolean }> {
  const [first] = await db.batch([
    db
      .prepare(
        "UPDATE recipients SET downloaded_at = ?3 WHERE transfer_id = ?1 AND terminal_id = ?2 AND downloaded_at IS NULL",
      )
      .bind(transferId, terminalId, now),
    db.prepare("UPDATE transfers SET downloads = downloads + ?2 WHERE id = ?1 AND changes() = 1").bind(transferId, countRead ? 1 : 0),
    db
      .prepare(
        `UPDATE transfers SET status = 'delivered'
         WHERE id = ?1 AND status = 'ready'
           AND NOT EXISTS (SELECT 1 FROM recipients WHERE transfer_id = ?1 AND downloaded_at IS NULL)`,
      )
      .bind(transferId),
  ]);
  return { first: first!.meta.changes === 1 };
}

/** Sets a recipient's `opened_at`, the first time only; true when this call set it. */
export async function recordOpened(db: D1Database, transferId: string, terminalId: string, now: number): Promise<boolean> {
  const res = await db
    .prepare("UPDATE recipients SET opened_at = ?3 WHERE transfer_id = ?1 AND terminal_id = ?2 AND opened_at IS NULL")
    .bind(transferId, terminalId, now)
    .run();
  return res.meta.changes === 1;
}

/** The part objects of one file, in order (a sealed transfer's seal.age, read for a push). */
export async function filePartKeys(db: D1Database, transferId: string, idx: number): Promise<Array<{ key: string; size: number }>> {
  const res = await db
    .prepare("SELECT object_key AS key, size FROM file_parts WHERE transfer_id = ?1 AND idx = ?2 ORDER BY part")
    .bind(transferId, idx)
    .all<{ key: string; size: number }>();
  return res.results;
}

/** What maxDownloads leaves a recipient: the transfer's count and limit, and the recipient's latest counted start (null: not a recipient, or no such transfer). */
export async function downloadStanding(
  db: D1Database,
  transferId: string,
  terminalId: string,
): Promise<{ downloads: number; max_downloads: number | null; started_at: number | null } | null> {
  return db
    .prepare(
      `SELECT t.downloads, t.max_downloads, r.started_at FROM transfers t JOIN recipients r ON r.transfer_id = t.id
       WHERE t.id = ?1 AND r.terminal_id = ?2`,
    )
    .bind(transferId, terminalId)
    .first();
}
