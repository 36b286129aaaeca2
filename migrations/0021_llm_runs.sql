-- Step 21: what a language model does with a transcript. Three kinds of work (topics, speaker names, a
-- translation) share one row shape, `llm_runs`: who asked, with which of their LLM configurations, in which
-- language, its state (pending → processing → completed | failed | cancelled), the transcript version it read (a
-- translation of an edited transcript is stale and can be re-done) and what it cost. Their results live in tables
-- of their own (later migrations), each a child of its run.
-- `llm_usage` is the ledger of every request sent to an LLM, whatever asked it (a summary, a question, a run): the
-- tokens in and out as the server reported them (or, when it reported none, estimated and marked so), which is
-- what a person's daily limit is counted against. `llm_token_limits` holds a limit an administrator set for one
-- person; the instance's default is the instance setting `llm.daily_token_limit`.
-- `context_tokens`: the context window of a configuration's model, when its owner states it (else it is read from
-- the server where the server says, else the provider's default).
-- depends: 0020_data_exports

ALTER TABLE user_llm_configurations ADD COLUMN context_tokens integer
    CHECK (context_tokens BETWEEN 256 AND 100000000);

CREATE TABLE llm_runs (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    kind text NOT NULL CHECK (kind IN ('topics', 'speaker_names', 'translation')),
    media_file_id bigint NOT NULL REFERENCES media_files (id) ON DELETE CASCADE,
    -- the requester: their configuration is used and their tokens are counted
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    llm_configuration_id bigint REFERENCES user_llm_configurations (id) ON DELETE SET NULL,
    provider text NOT NULL CHECK (length(provider) BETWEEN 1 AND 40),
    model_name text NOT NULL CHECK (length(model_name) BETWEEN 1 AND 200),
    language text CHECK (language ~ '^[a-z]{2,3}$'),
    options jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(options) = 'object'),
    status text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'processing', 'completed', 'failed', 'cancelled')),
    cancel_requested boolean NOT NULL DEFAULT false,
    progress real NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 1),
    transcript_version bigint,
    requests integer NOT NULL DEFAULT 0 CHECK (requests >= 0),
    input_tokens bigint NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
    output_tokens bigint NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
    error_message text CHECK (length(error_message) <= 4000),
    raw_response text,
    created_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    completed_at timestamptz
);
CREATE INDEX llm_runs_media_file_id_idx ON llm_runs (media_file_id, kind, created_at DESC, id DESC);
CREATE INDEX llm_runs_user_id_idx ON llm_runs (user_id);
CREATE INDEX llm_runs_llm_configuration_id_idx ON llm_runs (llm_configuration_id)
    WHERE llm_configuration_id IS NOT NULL;
-- Seen by whoever sees the file, as its summaries are.
ALTER TABLE llm_runs ENABLE ROW LEVEL SECURITY;
CREATE POLICY llm_runs_of_file ON llm_runs USING (media_file_id IN (SELECT unnest(rls_files())));

CREATE TABLE llm_usage (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose text NOT NULL
        CHECK (purpose IN ('summary', 'question', 'topics', 'speaker_names', 'translation')),
    subject uuid,  -- the summary, question or run the request was for
    provider text NOT NULL CHECK (length(provider) BETWEEN 1 AND 40),
    model_name text NOT NULL CHECK (length(model_name) BETWEEN 1 AND 200),
    input_tokens integer NOT NULL CHECK (input_tokens >= 0),
    output_tokens integer NOT NULL CHECK (output_tokens >= 0),
    reported boolean NOT NULL,  -- false: the server said nothing of its usage; the counts are estimates
    latency_ms integer NOT NULL CHECK (latency_ms >= 0),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX llm_usage_user_id_idx ON llm_usage (user_id, created_at);
CREATE INDEX llm_usage_subject_idx ON llm_usage (subject, id) WHERE subject IS NOT NULL;
-- One's own; administrators read everyone's (they set the limits).
ALTER TABLE llm_usage ENABLE ROW LEVEL SECURITY;
CREATE POLICY llm_usage_own ON llm_usage USING (user_id = (SELECT rls_actor()) OR (SELECT rls_is_admin()));

CREATE TABLE llm_token_limits (
    user_id bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    daily_tokens bigint NOT NULL CHECK (daily_tokens BETWEEN 0 AND 1000000000000),
    set_by bigint REFERENCES users (id) ON DELETE SET NULL,
    set_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX llm_token_limits_set_by_idx ON llm_token_limits (set_by) WHERE set_by IS NOT NULL;
ALTER TABLE llm_token_limits ENABLE ROW LEVEL SECURITY;
CREATE POLICY llm_token_limits_read ON llm_token_limits FOR SELECT USING (
    user_id = (SELECT rls_actor()) OR (SELECT rls_is_admin()));
CREATE POLICY llm_token_limits_set ON llm_token_limits FOR ALL USING ((SELECT rls_is_admin()))
    WITH CHECK ((SELECT rls_is_admin()));
