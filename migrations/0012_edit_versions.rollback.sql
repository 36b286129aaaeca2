-- Undo 0012: edits are last-write-wins again.
ALTER TABLE transcript_segments DROP COLUMN version;
ALTER TABLE media_files DROP COLUMN version;
