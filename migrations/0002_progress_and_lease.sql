-- How far (from byte 0, contiguously) each recipient has been served the package: a download
-- counts as complete only when this reaches the package's size, so a resumed download counts
-- and a read of the last bytes alone (zip readers start at the end record) does not.
ALTER TABLE recipients ADD COLUMN served_to INTEGER NOT NULL DEFAULT 0;

-- Packaging lease: the attempt that holds it until this time is the only one writing the
-- package; a duplicate job (at-least-once queues, the sweep) leaves it alone.
ALTER TABLE transfers ADD COLUMN package_lease_until INTEGER;
