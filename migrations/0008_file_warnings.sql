-- Step 15: a file's warnings, written when its transcript is published: what the user should know about a
-- transcript that was accepted anyway (a transcript file whose speech runs past the end of the recording).
-- Replaced whole on each publish, so re-processing with a fitting transcript clears them.
-- depends: 0007_import_origins_keys

ALTER TABLE media_files ADD COLUMN warnings text[] NOT NULL DEFAULT '{}';
