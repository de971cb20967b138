/**
 * D1: what waits for a recipient (its quota, src/limits/quotas.ts) and taking a recipient out
 * of transfers it no longer wants (src/auth/withdraw.ts). A recipient's quota is used only by
 * bytes really there: the stored parts of transfers to it that it has not downloaded and that
 * have not ended or expired; declared sizes never count against it.
 */

/** The transfers that hold something for a recipient (`r`, transfer `x`): not downloaded by it, not ended, not expired. */
export const held = (now: string) =>
  `r.downloaded_at IS NULL AND x.status IN ('uploading', 'packaging', 'ready') AND x.expires_at > ${now} AND x.purged_at IS NULL`;

/** A part left out of a recipient's received bytes (each an SQL expression): one sent again replaces its earlier copy, which must not count twice. */
export interface PartOf {
  t: string;
  idx: string;
  part: string;
}

/**
 * SQL, the one place that says which bytes are received for a recipient (`who`, an SQL
 * expression): FROM and WHERE over the stored parts `p` of the transfers `x` that hold
 * something for it (`held`), leaving out `except`. Every sum of received bytes is made over it.
 */
export const receivedRows = (who: string, now: string, except?: PartOf) =>
  `FROM recipients r JOIN transfers x ON x.id = r.transfer_id JOIN file_parts p ON p.transfer_id = x.id
   WHERE r.terminal_id = ${who} AND ${held(now)}` +
  (except ? ` AND NOT (p.transfer_id = ${except.t} AND p.idx = ${except.idx} AND p.part = ${except.part})` : "");

/** SQL: the bytes received for `who` (see receivedRows), a number. */
export const receivedBy = (who: string, now: string, except?: PartOf) => `(SELECT COALESCE(SUM(p.size), 0) ${receivedRows(who, now, except)})`;

/** A recipient's inbox limit and the step its received bytes are rounded up to (src/limits/quotas.ts). */
export interface InboxQuota {
  max: number;
  step: number;
}

/**
 * SQL: the recipients of transfer `a.t` that have no room for `a.size` more bytes: those that
 * have not downloaded it whose received bytes, leaving out part (`a.idx`, `a.part`) of it,
 * rounded up to `a.step`, plus `a.size`, are over `a.max` (fitsInbox of src/limits/quotas.ts,
 * in SQL; each argument a parameter name; D1 binds numbers as reals, so the division is cast,
 * not left to integer arithmetic). `a.only`: an SQL condition tested before any sum is made.
 */
export const fullRecipients = (a: PartOf & { size: string; now: string; max: string; step: string; only?: string }) =>
  `SELECT me.terminal_id AS id FROM recipients me
   WHERE ${a.only ? `${a.only} AND ` : ""}me.transfer_id = ${a.t} AND me.downloaded_at IS NULL
     AND CAST((${receivedBy("me.terminal_id", a.now, a)} + ${a.step} - 1) / ${a.step} AS INTEGER) * ${a.step} + ${a.size} > ${a.max}
   ORDER BY me.position`;

/**
 * The recipients of a transfer whose inboxes have no room for `size` more bytes in part
 * (`idx`, `part`) of it (its earlier copy left out): the check before a part's body is read.
 */
export async function inboxesFull(db: D1Database, transferId: string, idx: number, part: number, size: number, now: number, quota: InboxQuota): Promise<string[]> {
  const { results } = await db
    .prepare(fullRecipients({ t: "?1", idx: "?2", part: "?3", size: "?4", now: "?5", max: "?6", step: "?7" }))
    .bind(transferId, idx, part, size, now, quota.max, quota.step)
    .all<{ id: string }>();
  return results.map((r) => r.id);
}

/** What waits for a terminal (`GET …/settings` `waiting`): bytes received for it, and how many of them are in transfers still uploading. */
export async function waitingFor(db: D1Database, terminalId: string, now: number): Promise<{ bytes: number; uploading: number }> {
  const row = await db
    .prepare(
      `SELECT COALESCE(SUM(p.size), 0) AS bytes,
              COALESCE(SUM(CASE WHEN x.status = 'uploading' THEN p.size ELSE 0 END), 0) AS uploading
       ${receivedRows("?1", "?2")}`,
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

/** SQL: transfer `x` comes from a sender its recipient (`r`, terminal row `t`) refuses: blocked, or not a contact of a terminal that takes transfers from contacts only (never itself). */
const refusedSender = `x.sender_id != r.terminal_id
  AND (EXISTS (SELECT 1 FROM blocked b WHERE b.terminal_id = r.terminal_id AND b.other_id = x.sender_id)
       OR (t.accept = 'known' AND NOT EXISTS (SELECT 1 FROM contacts c WHERE c.terminal_id = r.terminal_id AND c.other_id = x.sender_id)))`;

/**
 * SQL of refusedHeld: it starts from the terminals marked for release (`release_due_at`, by
 * its partial index), then their own inbox rows, never from every transfer or recipient
 * (INDEXED BY and CROSS JOIN fix that order whatever the planner's statistics say).
 */
export const REFUSED_HELD = `SELECT x.id AS transferId, r.terminal_id AS terminalId
  FROM terminals t INDEXED BY terminals_release_due CROSS JOIN recipients r ON r.terminal_id = t.id CROSS JOIN transfers x ON x.id = r.transfer_id
  WHERE t.release_due_at IS NOT NULL AND ${held("?1")} AND ${refusedSender}
  ORDER BY x.created_at LIMIT ?2`;

/**
 * Recipients still held by senders they refuse (they blocked the sender, or take transfers from
 * contacts only and the sender is not one), with the transfer: what a block or a switch to
 * `accept: "known"` left for the sweep to release. Only terminals marked when they came to
 * refuse someone (store/contacts.ts, updateTerminal) are looked at. Oldest transfers first.
 */
export async function refusedHeld(db: D1Database, now: number, limit: number): Promise<Array<{ transferId: string; terminalId: string }>> {
  const { results } = await db.prepare(REFUSED_HELD).bind(now, limit).all<{ transferId: string; terminalId: string }>();
  return results;
}

/**
 * Unmarks the terminals marked at or before `before` for which nothing refused is held any
 * more (the sweep, after its releases; one marked again since stays marked). Returns how many.
 */
export async function settleReleases(db: D1Database, now: number, before: number): Promise<number> {
  const res = await db
    .prepare(
      `UPDATE terminals AS t INDEXED BY terminals_release_due SET release_due_at = NULL
       WHERE t.release_due_at IS NOT NULL AND t.release_due_at <= ?2
         AND NOT EXISTS (SELECT 1 FROM recipients r JOIN transfers x ON x.id = r.transfer_id
                         WHERE r.terminal_id = t.id AND ${held("?1")} AND ${refusedSender})`,
    )
    .bind(now, before)
    .run();
  return res.meta.changes;
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
