-- Contract v1.2: receipts count what each recipient has, file by file; maxDownloads counts starts;
-- recipients say when they opened a transfer.

-- Each file's bytes served to each recipient, from the file's byte 0 contiguously, whether in a
-- response of the package or of that file alone. served_to is what a resumed download may
-- start within (it may run ahead of the bytes: recorded before they leave, and to the end of a
-- piece cut short); has_to is what the recipient has: bytes that went out in whole pieces, and
-- those before the point a joined resume starts from (a client resumes from what it has). A
-- recipient has the transfer once every file's has_to reaches its size: so the package, or each
-- file on its own, or either resumed with Range, counts; a read of the ZIP's end (no file
-- bytes) does not.
CREATE TABLE served (
  transfer_id  TEXT NOT NULL,
  terminal_id  TEXT NOT NULL,
  idx          INTEGER NOT NULL,
  served_to    INTEGER NOT NULL,
  has_to       INTEGER NOT NULL,
  PRIMARY KEY (transfer_id, terminal_id, idx)
) WITHOUT ROWID;

-- What the package prefix (0002's recipients.served_to) already covered, as file prefixes that
-- a resume may start within: a download under way when this is applied still completes when it
-- is resumed.
INSERT INTO served (transfer_id, terminal_id, idx, served_to, has_to)
  SELECT r.transfer_id, r.terminal_id, f.idx, MIN(f.size, r.served_to - f.data_offset), 0
  FROM recipients r JOIN transfer_files f ON f.transfer_id = r.transfer_id
  WHERE f.data_offset IS NOT NULL AND r.served_to >= f.data_offset AND r.served_to > 0;
ALTER TABLE recipients DROP COLUMN served_to;

-- When the recipient last started a download (a response from byte 0 of the package or of a
-- file, counted in transfers.downloads): once maxDownloads is used up, only a recipient whose
-- start is less than an hour old may still finish it (Range).
ALTER TABLE recipients ADD COLUMN started_at INTEGER;

-- When the recipient first opened (looked at) the transfer: POST /v1/transfers/{id}/opened.
ALTER TABLE recipients ADD COLUMN opened_at INTEGER;
