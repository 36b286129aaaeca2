-- Undo 0002: drop the per-file segments index.
-- transactional: false

DROP INDEX CONCURRENTLY IF EXISTS transcript_segments_media_file_id_idx;
