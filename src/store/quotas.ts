import { held } from "./terminals";

/**
 * D1: what waits for a recipient (its quota, src/limits/quotas.ts) and taking a recipient out
 * of transfers it no longer wants (src/auth/withdraw.ts). A recipient's quota is used only by
 * bytes really there: the stored parts of transfers to it that it has not downloaded and that
 * have not ended or expired; declared sizes never count against it.
 */

/**
 * For each recipient of a transfer: the bytes received for it, leaving out the part
 * `(idx, part)` of this transfer (a part sent again replaces its earlier copy, so that copy
 * must not count twice).
 */
export async function receivedByRecipients(
  db: D1Database,
  transferId: string,
  idx: number,
  part: number,
  now: number,
): Promise<Array<{ id: string; received: number }>> {
  const { results } = await db
    .prepare(
      `SELECT me.terminal_id AS id,
         (SELECT COALESCE(SUM(p.size), 0) FROM recipients r JOIN transfers x ON x.id = r.transfer_id
            JOIN file_parts p ON p.transfer_id = x.id
          WHERE r.terminal_id = me.terminal_id AND ${held("?2")}
            AND NOT (p.transfer_id = ?1 AND p.idx = ?3 AND p.part = ?4)) AS received
       FROM recipients me WHERE me.transfer_id = ?1 AND me.downloaded_at IS NULL`,
    )
    .bind(transferId, now, idx, part)
    .all<{ id: string; received: number }>();
  return results;
}

/** A recipient's inbox limit and the step its received bytes are rounded up to (src/limits/quotas.ts). */
export interface InboxQuota {
  max: number;
  step: number;
}

/**
 * SQL true when a recipient of transfer `t` has no room for `size` more bytes: the bytes
 * received for it, leaving out part (`idx`, `part`) of `t`, rounded up to `step`, plus `size`,
 * over `max` (fitsInbox of src/limits/quotas.ts, in SQL; each argument a parameter name; D1 binds
 * numbers as reals, so the division is cast, not left to integer arithmetic).
 */
export const someInboxFull = (a: { t: string; idx: string; part: string; size: string; now: string; max: string; step: string }) =>
  `EXISTS (SELECT 1 FROM recipients me WHERE me.transfer_id = ${a.t} AND me.downloaded_at IS NULL
     AND CAST(((SELECT COALESCE(SUM(p.size), 0) FROM recipients r JOIN transfers x ON x.id = r.transfer_id
             JOIN file_parts p ON p.transfer_id = x.id
           WHERE r.terminal_id = me.terminal_id AND ${held(a.now)}
             AND NOT (p.transfer_id = ${a.t} AND p.idx = ${a.idx} AND p.part = ${a.part})) + ${a.step} - 1) / ${a.step} AS INTEGER) * ${a.step} + ${a.size} > ${a.max})`;

/** What waits for a terminal (`GET …/settings` `waiting`): bytes received for it, and how many of them are in transfers still uploading. */
export async function waitingFor(db: D1Database, terminalId: string, now: number): Promise<{ bytes: number; uploading: number }> {
  const row = await db
    .prepare(
      `SELECT COALESCE(SUM(p.size), 0) AS bytes,
              COALESCE(SUM(CASE WHEN x.status = 'uploading' THEN p.size ELSE 0 END), 0) AS uploading
       FROM recipients r JOIN transfers x ON x.id = r.transfer_id JOIN file_parts p ON p.transfer_id = x.id
       WHERE r.terminal_id = ?1 AND ${held("?2")}`,
    )
    .bind(terminalId, now)
    .first<{ bytes: number; uploading: number }>();
  return { bytes: row?.bytes ?? 0, uploading: row?.uploading ?? 0 };
}

/** Whose transfers to release: one sender's (it was blocked), or every sender that is not a contact (`accept: "known"`). */
export type HeldFrom = { sender: string } | { strangers: true };

/**
 * Transfers to a terminal that it has not downloaded and that have not ended, from one sender
 * or from every sender not among its contacts (never its own transfers to itself), oldest first.
 */
export async function heldFrom(db: D1Database, terminalId: string, from: HeldFrom, now: number, limit: number): Promise<string[]> {
  const who =
    "sender" in from
      ? "x.sender_id = ?2"
      : "NOT EXISTS (SELECT 1 FROM contacts c WHERE c.terminal_id = ?1 AND c.other_id = x.sender_id)";
  const { results } = await db
    .prepare(
      `SELECT x.id FROM recipients r JOIN transfers x ON x.id = r.transfer_id
       WHERE r.terminal_id = ?1 AND x.sender_id != ?1 AND ${who} AND ${held("?3")}
       ORDER BY x.created_at LIMIT ?4`,
    )
    .bind(terminalId, "sender" in from ? from.sender : null, now, limit)
    .all<{ id: string }>();
  return results.map((r) => r.id);
}

/**
 * Recipients still held by senders they refuse (they blocked the sender, or take transfers from
 * contacts only and the sender is not one), with the transfer: what a block or a switch to
 * `accept: "known"` left for the sweep to release. Oldest transfers first.
 */
export async function refusedHeld(db: D1Database, now: number, limit: number): Promise<Array<{ transferId: string; terminalId: string }>> {
  const { results } = await db
    .prepare(
      `SELECT x.id AS transferId, r.terminal_id AS terminalId
       FROM recipients r JOIN transfers x ON x.id = r.transfer_id JOIN terminals t ON t.id = r.terminal_id
       WHERE x.sender_id != r.terminal_id AND ${held("?1")}
         AND (EXISTS (SELECT 1 FROM blocked b WHERE b.terminal_id = r.terminal_id AND b.other_id = x.sender_id)
              OR (t.accept = 'known' AND NOT EXISTS (SELECT 1 FROM contacts c WHERE c.terminal_id = r.terminal_id AND c.other_id = x.sender_id)))
       ORDER BY x.created_at LIMIT ?2`,
    )
    .bind(now, limit)
    .all<{ transferId: string; terminalId: string }>();
  return results;
}

/**
 * Takes a recipient that has not downloaded it out of a transfer, in one transaction. If every
 * recipient left has downloaded it, a ready transfer becomes delivered. Returns whether the
 * recipient was taken out, and how many recipients are left.
 */
export async function withdrawRecipient(db: D1Database, transferId: string, terminalId: string): Promise<{ withdrawn: boolean; left: number }> {
  const [del, , left] = await db.batch([
    db.prepare("DELETE FROM recipients WHERE transfer_id = ?1 AND terminal_id = ?2 AND downloaded_at IS NULL").bind(transferId, terminalId),
    db
      .prepare(
        `UPDATE transfers SET status = 'delivered'
         WHERE id = ?1 AND status = 'ready'
           AND EXISTS (SELECT 1 FROM recipients WHERE transfer_id = ?1)
           AND NOT EXISTS (SELECT 1 FROM recipients WHERE transfer_id = ?1 AND downloaded_at IS NULL)`,
      )
      .bind(transferId),
    db.prepare("SELECT COUNT(*) AS n FROM recipients WHERE transfer_id = ?").bind(transferId),
  ]);
  return { withdrawn: del!.meta.changes === 1, left: (left!.results as Array<{ n: number }>)[0]!.n };
}
