-- Sealed transfers (contract v1.2, issue 23).

-- A terminal's published age X25519 recipient (`age1…`), or NULL; age_key_gen counts its
-- changes (the n of `terminal.key_changed`'s id "<terminal id>.key.<n>": 1 for the first key).
ALTER TABLE terminals ADD COLUMN age_key TEXT;
ALTER TABLE terminals ADD COLUMN age_key_gen INTEGER NOT NULL DEFAULT 0;

-- 1 for a transfer whose files are age files (1.age … n.age, then seal.age) and whose message
-- is inside seal.age: the server holds only ciphertext.
ALTER TABLE transfers ADD COLUMN sealed INTEGER NOT NULL DEFAULT 0 CHECK (sealed IN (0, 1));
