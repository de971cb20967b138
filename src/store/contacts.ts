import type { TerminalRef } from "../contract";

/**
 * D1: each terminal's contacts and blocked senders (migration 0003). A row names the terminal
 * whose list it is and the other terminal. The only SQL about these lists.
 *
 * A change that makes a terminal refuse a sender it took transfers from (a block; a contact
 * gone while it takes transfers from contacts only) marks it for the sweep's releases
 * (`terminals.release_due_at`, migration 0010; store/quotas.ts refusedHeld) in the same
 * transaction, so no refusal is recorded without it.
 */

/** SQL: marks terminal ?1 for the sweep at ?now when the statement before changed something (and, `knownOnly`, it takes transfers from contacts only). */
const markReleaseDue = (now: string, knownOnly: boolean) =>
  `UPDATE terminals SET release_due_at = ${now} WHERE id = ?1 AND changes() > 0${knownOnly ? " AND accept = 'known'" : ""}`;

export type ListName = "contacts" | "blocked";

/** Adds (or refreshes) `others` in a list of `terminalId`, then keeps only its newest `keep`. */
export async function addToList(
  db: D1Database,
  list: ListName,
  terminalId: string,
  others: readonly string[],
  now: number,
  keep: number,
): Promise<void> {
  await db.batch([
    db
      .prepare(
        `INSERT INTO ${list} (terminal_id, other_id, added_at)
         SELECT ?1, value, ?3 FROM json_each(?2) WHERE value != ?1
         ON CONFLICT (terminal_id, other_id) DO UPDATE SET added_at = excluded.added_at`,
      )
      .bind(terminalId, JSON.stringify(others), now),
    db
      .prepare(
        `DELETE FROM ${list} WHERE terminal_id = ?1 AND other_id NOT IN
           (SELECT other_id FROM ${list} WHERE terminal_id = ?1 ORDER BY added_at DESC, other_id LIMIT ?2)`,
      )
      .bind(terminalId, keep),
    // (a contact the list no longer keeps is a stranger now: see the top of this file)
    ...(list === "contacts" ? [db.prepare(markReleaseDue("?2", true)).bind(terminalId, now)] : []),
  ]);
}

/** Adds `otherId` to a list unless it is full (`max` entries); false when it was full. */
export async function addToListUnlessFull(db: D1Database, list: ListName, terminalId: string, otherId: string, now: number, max: number): Promise<boolean> {
  const [added] = await db.batch([
    db
      .prepare(
        `INSERT INTO ${list} (terminal_id, other_id, added_at)
         SELECT ?1, ?2, ?3 WHERE (SELECT COUNT(*) FROM ${list} WHERE terminal_id = ?1 AND other_id != ?2) < ?4
         ON CONFLICT (terminal_id, other_id) DO UPDATE SET added_at = excluded.added_at`,
      )
      .bind(terminalId, otherId, now, max),
    ...(list === "blocked" ? [db.prepare(markReleaseDue("?2", false)).bind(terminalId, now)] : []),
  ]);
  return added!.meta.changes === 1;
}

export async function removeFromList(db: D1Database, list: ListName, terminalId: string, otherId: string, now = Date.now()): Promise<void> {
  await db.batch([
    db.prepare(`DELETE FROM ${list} WHERE terminal_id = ?1 AND other_id = ?2`).bind(terminalId, otherId),
    ...(list === "contacts" ? [db.prepare(markReleaseDue("?2", true)).bind(terminalId, now)] : []),
  ]);
}

/** A terminal's list, newest first, with each other terminal's current name. */
export async function listOf(db: D1Database, list: ListName, terminalId: string, limit: number): Promise<TerminalRef[]> {
  const { results } = await db
    .prepare(
      `SELECT t.id, t.name FROM ${list} l JOIN terminals t ON t.id = l.other_id AND t.deleted_at IS NULL
       WHERE l.terminal_id = ? ORDER BY l.added_at DESC, l.other_id LIMIT ?`,
    )
    .bind(terminalId, limit)
    .all<TerminalRef>();
  return results;
}

/** The terminals (not deleted) that have `otherId` among their contacts, by id, after `after` (a page of at most `limit`). */
export async function contactHolders(db: D1Database, otherId: string, after = "", limit = 1000): Promise<string[]> {
  const { results } = await db
    .prepare(
      `SELECT c.terminal_id AS id FROM contacts c JOIN terminals t ON t.id = c.terminal_id AND t.deleted_at IS NULL
       WHERE c.other_id = ?1 AND c.terminal_id > ?2 ORDER BY c.terminal_id LIMIT ?3`,
    )
    .bind(otherId, after, limit)
    .all<{ id: string }>();
  return results.map((r) => r.id);
}
