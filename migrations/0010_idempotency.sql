-- `Idempotency-Key` of POST /v1/transfers (contract v1.2 additions): what a sender's key
-- created, for 24 hours. `request_hash` is the SHA-256 of the request as parsed: the same key
-- with another request is refused (422 idempotency_key_reused). The cron sweep forgets keys
-- older than 24 hours (idempotency_age).
CREATE TABLE idempotency_keys (
  sender_id     TEXT NOT NULL,
  key           TEXT NOT NULL,           -- ≤ 64 chars [A-Za-z0-9_-], chosen by the client
  request_hash  TEXT NOT NULL,           -- hex SHA-256
  transfer_id   TEXT NOT NULL,
  created_at    INTEGER NOT NULL,
  PRIMARY KEY (sender_id, key)
) WITHOUT ROWID;
CREATE INDEX idempotency_age ON idempotency_keys (created_at);

-- transfers.origin was the base of links in messages; links are made when a message is sent
-- (src/notify/links.ts) and the column was no longer read. Deploy the version that no longer
-- writes it right after applying this: the version before it writes origin, and its
-- POST /v1/transfers fails in between.
ALTER TABLE transfers DROP COLUMN origin;

-- What the cron sweep must still release for a terminal (src/auth/withdraw.ts releaseRefused):
-- set, in the same write, when it blocks a sender, switches to accept 'known', or loses a
-- contact while 'known'; cleared by the sweep once nothing refused is held for it. The sweep
-- looks only at terminals with it set (by this index), never at every transfer.
ALTER TABLE terminals ADD COLUMN release_due_at INTEGER;
CREATE INDEX terminals_release_due ON terminals (release_due_at) WHERE release_due_at IS NOT NULL;
-- blocks and switches recorded before this migration: the first sweep looks at each once
UPDATE terminals SET release_due_at = 0
  WHERE deleted_at IS NULL AND (accept = 'known' OR EXISTS (SELECT 1 FROM blocked b WHERE b.terminal_id = terminals.id));
