-- Undo 0005: word timings back into transcript_segments.words (jsonb), in batches of 5,000 segments; the version
-- table, its triggers and segment_words go; segment ids are GENERATED ALWAYS again.
-- transactional: false

ALTER TABLE transcript_segments ADD COLUMN IF NOT EXISTS words jsonb;

DO $$
DECLARE
    lo bigint := 0;
    top bigint;
BEGIN
    SELECT coalesce(max(segment_id), 0) INTO top FROM segment_words;
    WHILE lo < top LOOP
        UPDATE transcript_segments ts SET words = sw.words::jsonb
        FROM segment_words sw
        WHERE sw.segment_id = ts.id AND sw.segment_id > lo AND sw.segment_id <= lo + 5000;
        lo := lo + 5000;
        COMMIT;
    END LOOP;
END
$$;

DROP TABLE IF EXISTS segment_words;
DROP TRIGGER IF EXISTS transcript_segments_inserted ON transcript_segments;
DROP TRIGGER IF EXISTS transcript_segments_updated ON transcript_segments;
DROP TRIGGER IF EXISTS transcript_segments_deleted ON transcript_segments;
DROP TRIGGER IF EXISTS speakers_updated ON speakers;
DROP FUNCTION IF EXISTS bump_transcript_version();
DROP TABLE IF EXISTS transcript_versions;
DROP SEQUENCE IF EXISTS transcript_version_seq;
ALTER TABLE transcript_segments ALTER COLUMN id SET GENERATED ALWAYS;
ALTER TABLE transcript_staging ALTER COLUMN words TYPE jsonb USING words::jsonb;
