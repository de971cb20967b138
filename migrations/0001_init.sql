-- pushdrop transfer metadata. Times are integer milliseconds since the epoch (UTC);
-- the API renders them as ISO 8601 strings. Sizes are bytes.

CREATE TABLE terminals (
  id          TEXT PRIMARY KEY,          -- 9 digits, the last a Damm check digit
  name        TEXT NOT NULL,
  token_hash  TEXT NOT NULL UNIQUE,      -- hex SHA-256 of the bearer token; the token itself is never stored
  created_at  INTEGER NOT NULL
);

CREATE TABLE transfers (
  id                 TEXT PRIMARY KEY,   -- 22 chars base64url, 128 random bits
  sender_id          TEXT NOT NULL,
  sender_name        TEXT NOT NULL,      -- the sender's name when the transfer was created
  message            TEXT,
  status             TEXT NOT NULL CHECK (status IN
                       ('uploading','packaging','ready','delivered','expired','cancelled','failed')),
  created_at         INTEGER NOT NULL,
  expires_at         INTEGER NOT NULL,
  max_downloads      INTEGER,            -- NULL: unlimited
  downloads          INTEGER NOT NULL DEFAULT 0,  -- complete package downloads by recipients
  total_size         INTEGER NOT NULL,
  origin             TEXT NOT NULL,      -- base URL that links in messages are built on
  package_size       INTEGER,
  package_sha256     TEXT,
  package_upload_id  TEXT,               -- R2 multipart upload of the package while packaging
  failure            TEXT,               -- why packaging failed, shown to the sender
  purged_at          INTEGER             -- when R2 objects were removed (expiry, cancel)
);
CREATE INDEX transfers_sender ON transfers (sender_id, created_at);
CREATE INDEX transfers_expiry ON transfers (expires_at) WHERE purged_at IS NULL;

CREATE TABLE transfer_files (
  transfer_id   TEXT NOT NULL REFERENCES transfers (id) ON DELETE CASCADE,
  idx           INTEGER NOT NULL,
  name          TEXT NOT NULL,           -- safe relative path inside the package
  size          INTEGER NOT NULL,
  type          TEXT NOT NULL,
  part_size     INTEGER NOT NULL,
  upload_id     TEXT,                    -- R2 multipart upload id (files over one part)
  completed_at  INTEGER,                 -- all bytes are in R2
  sha256        TEXT,                    -- set by the packager
  crc32         INTEGER,
  method        INTEGER,                 -- ZIP compression method: 0 stored, 8 deflated
  data_offset   INTEGER,                 -- where the entry's data starts in the package
  stored_size   INTEGER,                 -- its length there (compressed size)
  PRIMARY KEY (transfer_id, idx)
);

CREATE TABLE file_parts (
  transfer_id  TEXT NOT NULL,
  idx          INTEGER NOT NULL,
  part         INTEGER NOT NULL,         -- 1-based
  size         INTEGER NOT NULL,
  etag         TEXT NOT NULL,
  PRIMARY KEY (transfer_id, idx, part),
  FOREIGN KEY (transfer_id, idx) REFERENCES transfer_files (transfer_id, idx) ON DELETE CASCADE
);

CREATE TABLE recipients (
  transfer_id    TEXT NOT NULL REFERENCES transfers (id) ON DELETE CASCADE,
  terminal_id    TEXT NOT NULL,
  position       INTEGER NOT NULL,       -- order in the sender's `to`
  notified_at    INTEGER,
  channel        TEXT,                   -- 'socket' | 'push': how it was first notified
  downloaded_at  INTEGER,
  PRIMARY KEY (transfer_id, terminal_id)
);
CREATE INDEX recipients_inbox ON recipients (terminal_id);
