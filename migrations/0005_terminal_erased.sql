-- A deleted terminal's Durable Object (its sockets, push subscriptions, outbox) is erased
-- after its tombstone is written; erased_at says that this was done. A DELETE that could not
-- reach the object leaves it NULL, and the expiry sweep erases the object then.
ALTER TABLE terminals ADD COLUMN erased_at INTEGER;
CREATE INDEX terminals_unerased ON terminals (deleted_at) WHERE deleted_at IS NOT NULL AND erased_at IS NULL;
