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
