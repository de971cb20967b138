/**
 * The SQLite schema of one Terminal Durable Object: its outbox, push subscriptions, pushes
 * and a few facts about itself (meta). Each table has one module that queries it: outbox.ts,
 * subscriptions.ts, pushes.ts, meta.ts.
 */
export function migrate(sql: SqlStorage): void {
  sql.exec(`
    CREATE TABLE IF NOT EXISTS outbox (
      seq            INTEGER PRIMARY KEY AUTOINCREMENT,
      id             TEXT NOT NULL UNIQUE,
      type           TEXT NOT NULL,
      transfer_id    TEXT,
      body           TEXT NOT NULL,
      created_at     INTEGER NOT NULL,
      expires_at     INTEGER,
      acked_at       INTEGER,
      push_attempts  INTEGER NOT NULL DEFAULT 0,
      push_next_at   INTEGER,
      push_state     TEXT
    );
    CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (acked_at, seq);
    CREATE TABLE IF NOT EXISTS subscriptions (
      endpoint    TEXT PRIMARY KEY,
      p256dh      TEXT NOT NULL,
      auth        TEXT NOT NULL,
      created_at  INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    -- one row per message and subscription that needs (or needed) a Web Push
    CREATE TABLE IF NOT EXISTS pushes (
      message_id  TEXT NOT NULL,
      endpoint    TEXT NOT NULL,
      state       TEXT NOT NULL,          -- pending | sent | gone | failed | superseded
      attempts    INTEGER NOT NULL DEFAULT 0,
      next_at     INTEGER NOT NULL,
      last_status INTEGER,
      PRIMARY KEY (message_id, endpoint)
    );
  `);
  // added: the token generation a subscription was made with (NULL: before it was recorded, taken as 1)
  try {
    sql.exec("SELECT gen FROM subscriptions LIMIT 0");
  } catch {
    sql.exec("ALTER TABLE subscriptions ADD COLUMN gen INTEGER");
  }
}
