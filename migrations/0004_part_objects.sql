-- Each uploaded part is its own R2 object, under a key unique to the request that wrote it
-- (uploads/<transfer>/<file>/<part>.<nonce>): D1 names the one that counts, so a late,
-- overrunning or crossed upload can never replace bytes that were accepted. The package is
-- put together from these objects and a small "frame" object when it is downloaded.
ALTER TABLE file_parts ADD COLUMN object_key TEXT;
