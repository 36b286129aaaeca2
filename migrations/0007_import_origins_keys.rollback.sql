-- Undo 0007: origins of rows without a bigint id go (the next import run matches those rows by their natural key
-- again); target_id is required again.
DELETE FROM import_origins WHERE target_id IS NULL;
ALTER TABLE import_origins DROP CONSTRAINT IF EXISTS import_origins_one_target_check;
ALTER TABLE import_origins DROP COLUMN IF EXISTS target_key;
ALTER TABLE import_origins ALTER COLUMN target_id SET NOT NULL;
