-- Undo 0008: the warnings go (they are recomputed when a file is processed again).
ALTER TABLE media_files DROP COLUMN IF EXISTS warnings;
