-- Step 21: summaries in any shape. A prompt declares what its answer is: "bluf" (the fixed keys, as before),
-- "json" (an object matching the prompt's JSON Schema, stored in `content`) or "markdown" (free text, stored in
-- `markdown`). A summary records the shape and the language it was written in, and can be cancelled: a pending one
-- at once, a processing one at its job's next check (`cancel_requested`). The search vector also covers the new
-- shapes' text.
-- depends: 0021_llm_runs

ALTER TABLE summary_prompts
    ADD COLUMN output_format text NOT NULL DEFAULT 'bluf' CHECK (output_format IN ('bluf', 'json', 'markdown')),
    ADD COLUMN output_schema jsonb CHECK (output_schema IS NULL OR jsonb_typeof(output_schema) = 'object'),
    ADD CONSTRAINT summary_prompts_schema_with_json CHECK ((output_format = 'json') = (output_schema IS NOT NULL));

ALTER TABLE file_summaries
    ADD COLUMN output_format text NOT NULL DEFAULT 'bluf' CHECK (output_format IN ('bluf', 'json', 'markdown')),
    ADD COLUMN language text CHECK (language ~ '^[a-z]{2,3}$'),
    ADD COLUMN content jsonb CHECK (content IS NULL OR jsonb_typeof(content) = 'object'),
    ADD COLUMN markdown text,
    ADD COLUMN cancel_requested boolean NOT NULL DEFAULT false,
    DROP CONSTRAINT file_summaries_status_check,
    ADD CONSTRAINT file_summaries_status_check
        CHECK (status IN ('pending', 'processing', 'completed', 'failed', 'cancelled'));
ALTER TABLE media_files
    DROP CONSTRAINT media_files_summary_status_check,
    ADD CONSTRAINT media_files_summary_status_check
        CHECK (summary_status IN ('pending', 'processing', 'completed', 'failed', 'cancelled'));

-- A generated column's expression cannot be altered: the vector (and its index) is made anew.
ALTER TABLE file_summaries DROP COLUMN search_vector;
ALTER TABLE file_summaries ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
    to_tsvector('english'::regconfig,
                coalesce(bluf, '') || ' ' || coalesce(brief_summary, '') || ' ' || coalesce(markdown, ''))
    || to_tsvector('english'::regconfig, coalesce(content, '{}'::jsonb))) STORED;
CREATE INDEX file_summaries_search_idx ON file_summaries USING gin (search_vector);
