-- Step 16: how each file is to be processed (speech model, language, task, custom vocabulary, diarization,
-- summary and its prompt), chosen at upload or re-run and kept, so a re-run repeats them unless changed. The
-- speaker-count hints stay in media_files (0004). `rerun_stage`: the one stage a queued media job is to redo
-- (NULL: the whole pipeline), read by the job and cleared when it completes.
-- depends: 0009_task_types_from_the_job_registry

CREATE TABLE processing_choices (
    media_file_id bigint PRIMARY KEY REFERENCES media_files (id) ON DELETE CASCADE,
    model text CHECK (length(model) BETWEEN 1 AND 500),
    language text CHECK (language ~ '^[a-z]{2,3}$'),
    task text NOT NULL DEFAULT 'transcribe' CHECK (task IN ('transcribe', 'translate')),
    vocabulary text CHECK (length(vocabulary) BETWEEN 1 AND 500),
    diarization boolean NOT NULL DEFAULT true,
    summary boolean NOT NULL DEFAULT false,
    summary_prompt_id bigint REFERENCES summary_prompts (id) ON DELETE SET NULL,
    rerun_stage text CHECK (rerun_stage IN ('transcription', 'diarization', 'speakers')),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX processing_choices_summary_prompt_id_idx ON processing_choices (summary_prompt_id);
CREATE TRIGGER processing_choices_updated_at BEFORE UPDATE ON processing_choices
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
