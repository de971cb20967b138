-- Managing a terminal and recipient control (contract v1.1).

-- Which senders a terminal takes transfers from: 'anyone' (not blocked) or 'known' (its contacts).
ALTER TABLE terminals ADD COLUMN accept TEXT NOT NULL DEFAULT 'anyone' CHECK (accept IN ('anyone', 'known'));
-- Bumped by every token rotation: a live socket remembers the generation of the token that
-- opened it, and the terminal's Durable Object closes those older than the current one.
ALTER TABLE terminals ADD COLUMN token_gen INTEGER NOT NULL DEFAULT 1;
-- A deleted terminal stays as a tombstone (no name, no usable token) so that its id is never
-- drawn again for someone else: a contact list or a typed id must not reach a stranger.
ALTER TABLE terminals ADD COLUMN deleted_at INTEGER;

-- A terminal's contacts: the terminals it added, and those it has sent a transfer to.
CREATE TABLE contacts (
  terminal_id  TEXT NOT NULL,
  other_id     TEXT NOT NULL,
  added_at     INTEGER NOT NULL,         -- last added or sent to (the newest are kept)
  PRIMARY KEY (terminal_id, other_id)
) WITHOUT ROWID;
CREATE INDEX contacts_other ON contacts (other_id);

-- Senders a terminal refuses, whatever its `accept` says.
CREATE TABLE blocked (
  terminal_id  TEXT NOT NULL,
  other_id     TEXT NOT NULL,
  added_at     INTEGER NOT NULL,
  PRIMARY KEY (terminal_id, other_id)
) WITHOUT ROWID;
CREATE INDEX blocked_other ON blocked (other_id);
