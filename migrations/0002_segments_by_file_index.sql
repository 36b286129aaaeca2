-- A narrow index on transcript_segments (media_file_id). The unique identity index also starts with media_file_id,
-- but its entries carry start, end and md5(text) (98 MB per million segments against 7 MB for this deduplicated
-- one), so per-file counts (file list, file detail), per-file deletes and the search's "this user's files" bitmap
-- read 14 times fewer pages. bench/README.md has the EXPLAIN ANALYZE before and after.
-- Built CONCURRENTLY (outside a transaction) so that a large, live table keeps accepting transcripts meanwhile.
-- depends: 0001_baseline
-- transactional: false

CREATE INDEX CONCURRENTLY IF NOT EXISTS transcript_segments_media_file_id_idx ON transcript_segments (media_file_id);
