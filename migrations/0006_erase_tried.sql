-- The sweep erases the objects of deleted terminals that a DELETE could not reach (0005). One
-- that still cannot be reached is tried again after the others, not first every time:
-- erase_tried_at is when the sweep last failed to erase it (NULL: never tried).
ALTER TABLE terminals ADD COLUMN erase_tried_at INTEGER;
DROP INDEX terminals_unerased;
CREATE INDEX terminals_unerased ON terminals (erase_tried_at, deleted_at) WHERE deleted_at IS NOT NULL AND erased_at IS NULL;
