-- Undo 0003: staged transcripts and the language probability go.
DROP TABLE IF EXISTS transcript_staging;
ALTER TABLE media_files DROP COLUMN IF EXISTS language_probability;
