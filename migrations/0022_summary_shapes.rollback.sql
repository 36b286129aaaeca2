-- Undo 0022: summaries go back to one shape (the new shapes' summaries and the cancelled ones go).
DELETE FROM file_summaries WHERE output_format <> 'bluf' OR status = 'cancelled';
UPDATE media_files SET summary_status = NULL WHERE summary_status = 'cancelled';
DELETE FROM summary_prompts WHERE output_format <> 'bluf';
ALTER TABLE file_summaries DROP COLUMN search_vector;
ALTER TABLE file_summaries ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
    to_tsvector('english'::regconfig, coalesce(bluf, '') || ' ' || coalesce(brief_summary, ''))) STORED;
CREATE INDEX file_summaries_search_idx ON file_summaries USING gin (search_vector);
ALTER TABLE media_files
    DROP CONSTRAINT media_files_summary_status_check,
    ADD CONSTRAINT media_files_summary_status_check
        CHECK (summary_status IN ('pending', 'processing', 'completed', 'failed'));
ALTER TABLE file_summaries
    DROP CONSTRAINT file_summaries_status_check,
    ADD CONSTRAINT file_summaries_status_check CHECK (status IN ('pending', 'processing', 'completed', 'failed')),
    DROP COLUMN cancel_requested,
    DROP COLUMN markdown,
    DROP COLUMN content,
    DROP COLUMN language,
    DROP COLUMN output_format;
ALTER TABLE summary_prompts
    DROP CONSTRAINT summary_prompts_schema_with_json,
    DROP COLUMN output_schema,
    DROP COLUMN output_format;
