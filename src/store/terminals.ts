/** D1: the terminals table. */

export interface TerminalRow {
  id: string;
  name: string;
  token_hash: string;
  created_at: number;
}

/** Inserts a terminal; false when the id is taken (the caller draws another). */
export async function insertTerminal(db: D1Database, row: TerminalRow): Promise<boolean> {
  const res = await db
    .prepare("INSERT OR IGNORE INTO terminals (id, name, token_hash, created_at) VALUES (?, ?, ?, ?)")
    .bind(row.id, row.name, row.token_hash, row.created_at)
    .run();
  return res.meta.changes === 1;
}

export function getTerminal(db: D1Database, id: string): Promise<TerminalRow | null> {
  return db.prepare("SELECT * FROM terminals WHERE id = ?").bind(id).first<TerminalRow>();
}

export function getTerminalByTokenHash(db: D1Database, hash: string): Promise<TerminalRow | null> {
  return db.prepare("SELECT * FROM terminals WHERE token_hash = ?").bind(hash).first<TerminalRow>();
}

/** Which of these ids are registered terminals. */
export async function existingTerminalIds(db: D1Database, ids: readonly string[]): Promise<Set<string>> {
  const { results } = await db
    .prepare("SELECT id FROM terminals WHERE id IN (SELECT value FROM json_each(?))")
    .bind(JSON.stringify(ids))
    .all<{ id: string }>();
  return new Set(results.map((r) => r.id));
}
