-- Step 15: the import remembers every row it copies, rows without a bigint id of their own included.
-- A link row (a file's tag, a collection member, a speaker profile in a speaker collection) has a composite key,
-- and a task a text id: `target_key` holds that key as text ("12,4": the link's ids in primary-key order; a
-- task's id) where `target_id` cannot. Exactly one of the two is set. Remembering link rows is what keeps a
-- re-run from putting back a tag or a collection membership that a user removed after the import.
-- depends: 0006_url_imports

ALTER TABLE import_origins ALTER COLUMN target_id DROP NOT NULL;
ALTER TABLE import_origins ADD COLUMN target_key text CHECK (length(target_key) BETWEEN 1 AND 500);
ALTER TABLE import_origins ADD CONSTRAINT import_origins_one_target_check
    CHECK ((target_id IS NULL) <> (target_key IS NULL));
