import type { Accept } from "../contract";
import { held, receivedBy } from "./quotas";

/** D1: the terminals table (and its tombstones: a deleted terminal's id is never drawn again). */

export interface TerminalRow {
  id: string;
  name: string;
  token_hash: string;
  created_at: number;
  /** migration 0003: whom it takes transfers from; its token's generation; when it was deleted */
  accept: Accept;
  token_gen: number;
  deleted_at: number | null;
  /** migration 0009: its age recipient (`age1…`) or null; how many times it was set */
  age_key: string | null;
  age_key_gen: number;
  /** migration 0010: since when the sweep must look for what it refuses (null: nothing to release) */
  release_due_at?: number | null;
}

export type NewTerminal = Pick<TerminalRow, "id" | "name" | "token_hash" | "created_at">;

/** Inserts a terminal; false when the id is taken (the caller draws another). */
export async function insertTerminal(db: D1Database, row: NewTerminal): Promise<boolean> {
  const res = await db
    .prepare("INSERT OR IGNORE INTO terminals (id, name, token_hash, created_at) VALUES (?, ?, ?, ?)")
    .bind(row.id, row.name, row.token_hash, row.created_at)
    .run();
  return res.meta.changes === 1;
}

/** A terminal that exists (not deleted), or null. */
export function getTerminal(db: D1Database, id: string): Promise<TerminalRow | null> {
  return db.prepare("SELECT * FROM terminals WHERE id = ? AND deleted_at IS NULL").bind(id).first<TerminalRow>();
}

/**
 * The token generation of a terminal that exists, or null (no such terminal, or deleted): what
 * a signed link is checked against. One primary-key read, nothing else.
 */
export async function tokenGenOf(db: D1Database, id: string): Promise<number | null> {
  return (await db.prepare("SELECT token_gen FROM terminals WHERE id = ? AND deleted_at IS NULL").bind(id).first<number>("token_gen")) ?? null;
}

export function getTerminalByTokenHash(db: D1Database, hash: string): Promise<TerminalRow | null> {
  return db.prepare("SELECT * FROM terminals WHERE token_hash = ? AND deleted_at IS NULL").bind(hash).first<TerminalRow>();
}

/**
 * Replaces a terminal's token, if `oldHash` is still its token (of two rotations at once, one
 * wins). Returns the new token generation, or null when the token had changed meanwhile.
 */
export async function replaceTokenHash(db: D1Database, id: string, oldHash: string, newHash: string): Promise<number | null> {
  const row = await db
    .prepare(
      `UPDATE terminals SET token_hash = ?3, token_gen = token_gen + 1
       WHERE id = ?1 AND token_hash = ?2 AND deleted_at IS NULL RETURNING token_gen`,
    )
    .bind(id, oldHash, newHash)
    .first<{ token_gen: number }>();
  return row?.token_gen ?? null;
}

/** Renames a terminal or changes whom it takes transfers from; `accept: "known"` also marks it for the sweep's releases (store/quotas.ts refusedHeld), in the same write. */
export async function updateTerminal(db: D1Database, id: string, change: { name?: string; accept?: Accept }, now = Date.now()): Promise<void> {
  await db
    .prepare(
      `UPDATE terminals SET name = COALESCE(?2, name), accept = COALESCE(?3, accept),
         release_due_at = CASE WHEN ?3 = 'known' THEN ?4 ELSE release_due_at END
       WHERE id = ?1 AND deleted_at IS NULL`,
    )
    .bind(id, change.name ?? null, change.accept ?? null, now)
    .run();
}

/**
 * Turns a terminal into a tombstone: no name, a token hash no token has, its lists and its
 * place in other terminals' lists gone. True only for the caller that deleted it (holding
 * the token `tokenHash`).
 */
export async function markTerminalDeleted(db: D1Database, id: string, tokenHash: string, now: number): Promise<boolean> {
  const [res] = await db.batch([
    db
      .prepare(
        `UPDATE terminals SET deleted_at = ?3, name = '', accept = 'anyone', token_hash = 'deleted:' || id, age_key = NULL
         WHERE id = ?1 AND token_hash = ?2 AND deleted_at IS NULL`,
      )
      .bind(id, tokenHash, now),
    db.prepare("DELETE FROM contacts WHERE terminal_id = ?1 OR other_id = ?1").bind(id),
    db.prepare("DELETE FROM blocked WHERE terminal_id = ?1 OR other_id = ?1").bind(id),
  ]);
  return res!.meta.changes === 1;
}

/** Says that a deleted terminal's Durable Object was erased. */
export async function markTerminalErased(db: D1Database, id: string, now: number): Promise<void> {
  await db.prepare("UPDATE terminals SET erased_at = ?2 WHERE id = ?1 AND deleted_at IS NOT NULL").bind(id, now).run();
}

/** The sweep could not erase this deleted terminal's object: it is tried again after the others. */
export async function markEraseFailed(db: D1Database, id: string, now: number): Promise<void> {
  await db.prepare("UPDATE terminals SET erase_tried_at = ?2 WHERE id = ?1 AND deleted_at IS NOT NULL").bind(id, now).run();
}

/**
 * Deleted terminals whose Durable Object is not known to be erased (a DELETE could not reach
 * it): those never tried first, oldest deletion first; then those that failed, longest ago first.
 */
export async function unerasedTerminals(db: D1Database, limit = 100): Promise<string[]> {
  const { results } = await db
    .prepare("SELECT id FROM terminals WHERE deleted_at IS NOT NULL AND erased_at IS NULL ORDER BY erase_tried_at NULLS FIRST, deleted_at LIMIT ?")
    .bind(limit)
    .all<{ id: string }>();
  return results.map((r) => r.id);
}

/** A named recipient that exists: whether it refuses transfers from the sender, and what already waits for it. */
export interface RecipientCheck {
  id: string;
  refused: boolean;
  /**
   * bytes really there for it (stored parts of transfers not downloaded by it, not ended, not
   * expired): exact, so only ever compared after rounding (src/limits/quotas.ts)
   */
  received: number;
  /** bytes the sender declared in its own transfers to it that are not done (its share) */
  fromSender: number;
}

/**
 * One query for every recipient of a transfer (≤ 100): which exist, which refuse the sender
 * (it is blocked, or the recipient takes transfers from contacts only and the sender is not
 * one; a terminal never refuses itself), how many bytes were received for each, and how many
 * the sender has declared for each.
 */
export async function checkRecipients(db: D1Database, senderId: string, ids: readonly string[], now: number): Promise<RecipientCheck[]> {
  const { results } = await db
    .prepare(
      `SELECT t.id,
         (t.id != ?2 AND (
            EXISTS (SELECT 1 FROM blocked b WHERE b.terminal_id = t.id AND b.other_id = ?2)
            OR (t.accept = 'known' AND NOT EXISTS (SELECT 1 FROM contacts c WHERE c.terminal_id = t.id AND c.other_id = ?2))
         )) AS refused,
         ${receivedBy("t.id", "?3")} AS received,
         (SELECT COALESCE(SUM(x.total_size), 0) FROM recipients r JOIN transfers x ON x.id = r.transfer_id
          WHERE r.terminal_id = t.id AND x.sender_id = ?2 AND ${held("?3")}) AS from_sender
       FROM terminals t
       WHERE t.id IN (SELECT value FROM json_each(?1)) AND t.deleted_at IS NULL`,
    )
    .bind(JSON.stringify(ids), senderId, now)
    .all<{ id: string; refused: number; received: number; from_sender: number }>();
  return results.map((r) => ({ id: r.id, refused: r.refused === 1, received: r.received, fromSender: r.from_sender }));
}

/**
 * Publishes `key` as a terminal's age recipient. Returns the key's generation (1 for the first
 * key), and whether it changed: setting the key it already has changes nothing.
 */
export async function setAgeKey(db: D1Database, id: string, key: string): Promise<{ gen: number; changed: boolean } | null> {
  const changed = await db
    .prepare(
      `UPDATE terminals SET age_key = ?2, age_key_gen = age_key_gen + 1
       WHERE id = ?1 AND deleted_at IS NULL AND age_key IS NOT ?2 RETURNING age_key_gen`,
    )
    .bind(id, key)
    .first<{ age_key_gen: number }>();
  if (changed) return { gen: changed.age_key_gen, changed: true };
  const row = await db
    .prepare("SELECT age_key_gen FROM terminals WHERE id = ? AND deleted_at IS NULL AND age_key = ?")
    .bind(id, key)
    .first<{ age_key_gen: number }>();
  return row ? { gen: row.age_key_gen, changed: false } : null;
}
