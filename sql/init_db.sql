-- The whole development schema of the transcription platform, plus its seed rows.
-- Built on an empty database by `opentr dev` / `opentr reset dev`. Production builds the same schema with the
-- yoyo migrations in migrations/; `opentr db check` proves the two are identical. Every later migration must be
-- folded in here too (columns appended at the end of their table, in the migration's order).

CREATE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

-- users and authentication ----------------------------------------------------------------------------------------

CREATE TABLE users (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    email text NOT NULL CHECK (length(email) BETWEEN 3 AND 320 AND email LIKE '%_@_%'),
    hashed_password text NOT NULL,
    full_name text NOT NULL DEFAULT '' CHECK (length(full_name) <= 200),
    is_active boolean NOT NULL DEFAULT true,
    role text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    last_login_at timestamptz
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE auth_tokens (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash bytea NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    last_used_at timestamptz,
    revoked_at timestamptz,
    CHECK (expires_at > created_at)
);
CREATE INDEX auth_tokens_user_id_idx ON auth_tokens (user_id);

-- media files -----------------------------------------------------------------------------------------------------

CREATE TABLE media_files (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    filename text NOT NULL CHECK (length(filename) BETWEEN 1 AND 255),
    storage_path text NOT NULL UNIQUE,
    file_size bigint NOT NULL CHECK (file_size >= 0),
    content_type text NOT NULL DEFAULT 'application/octet-stream',
    file_hash text CHECK (file_hash ~ '^[0-9a-f]{64}$'),
    duration double precision CHECK (duration >= 0),
    language text,
    title text,
    author text,
    description text,
    source_url text,
    is_public boolean NOT NULL DEFAULT false,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN (
        'pending', 'queued', 'processing', 'completed', 'error', 'cancelling', 'cancelled', 'orphaned')),
    upload_time timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz,
    -- technical metadata
    media_format text,
    codec text,
    frame_rate double precision,
    frame_count bigint,
    resolution_width integer CHECK (resolution_width > 0),
    resolution_height integer CHECK (resolution_height > 0),
    aspect_ratio text,
    audio_channels integer CHECK (audio_channels > 0),
    audio_sample_rate integer CHECK (audio_sample_rate > 0),
    audio_bit_depth integer CHECK (audio_bit_depth > 0),
    creation_date timestamptz,
    last_modified_date timestamptz,
    device_make text,
    device_model text,
    metadata_raw jsonb,
    metadata_important jsonb,
    waveform_data jsonb,
    thumbnail_path text,
    -- processing bookkeeping
    active_task_id text,
    task_started_at timestamptz,
    task_last_update timestamptz,
    progress real NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 1),
    cancellation_requested boolean NOT NULL DEFAULT false,
    retry_count integer NOT NULL DEFAULT 0 CHECK (retry_count >= 0),
    max_retries integer NOT NULL DEFAULT 3 CHECK (max_retries >= 0),
    last_error_message text,
    error_category text,
    recovery_attempts integer NOT NULL DEFAULT 0 CHECK (recovery_attempts >= 0),
    last_recovery_attempt timestamptz,
    force_delete_eligible boolean NOT NULL DEFAULT false,
    summary_status text CHECK (summary_status IN ('pending', 'processing', 'completed', 'failed')),
    updated_at timestamptz NOT NULL DEFAULT now(),
    language_probability real CHECK (language_probability BETWEEN 0 AND 1),
    -- 0004_speakers: speaker-count hints given at upload, and what the diarization stage did
    min_speakers integer CHECK (min_speakers BETWEEN 1 AND 100),
    max_speakers integer CHECK (max_speakers BETWEEN 1 AND 100),
    num_speakers integer CHECK (num_speakers BETWEEN 1 AND 100),
    diarization text CHECK (diarization IN ('diarized', 'off', 'models_missing', 'failed', 'transcript')),
    -- 0008_file_warnings: what the user should know about an accepted transcript (replaced on each publish)
    warnings text[] NOT NULL DEFAULT '{}',
    -- 0012_edit_versions: bumped by each edit of the user's fields; PUT with If-Match compares it (412 if stale)
    version integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    CONSTRAINT media_files_speaker_hints_check CHECK (min_speakers <= max_speakers)
);
CREATE INDEX media_files_user_page_idx ON media_files (user_id, upload_time DESC, id DESC);
CREATE INDEX media_files_page_idx ON media_files (upload_time DESC, id DESC);
CREATE INDEX media_files_user_hash_idx ON media_files (user_id, file_hash);
CREATE INDEX media_files_active_status_idx ON media_files (status)
    WHERE status IN ('pending', 'queued', 'processing', 'cancelling');

-- speakers --------------------------------------------------------------------------------------------------------

CREATE TABLE speaker_profiles (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, name),
    -- 0004_speakers: the weighted mean of the verified speakers' voice embeddings (unit length) and its signature
    embedding real[] CHECK (array_ndims(embedding) = 1 AND cardinality(embedding) BETWEEN 1 AND 4096),
    embedding_signature bit(256),
    embedding_weight real NOT NULL DEFAULT 0 CHECK (embedding_weight >= 0),
    CONSTRAINT speaker_profiles_embedding_signature_check CHECK ((embedding IS NULL) = (embedding_signature IS NULL))
);

CREATE TABLE speakers (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    media_file_id bigint NOT NULL REFERENCES media_files (id) ON DELETE CASCADE,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    label text NOT NULL CHECK (length(label) BETWEEN 1 AND 100),
    display_name text CHECK (length(display_name) <= 200),
    suggested_name text,
    profile_id bigint REFERENCES speaker_profiles (id) ON DELETE SET NULL,
    verified boolean NOT NULL DEFAULT false,
    confidence real CHECK (confidence BETWEEN 0 AND 1),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (media_file_id, label),
    -- 0004_speakers: the voice embedding (unit length), its SimHash signature, the seconds of speech it comes from,
    -- and whether the profile link was made by matching ('auto') or by the user
    embedding real[] CHECK (array_ndims(embedding) = 1 AND cardinality(embedding) BETWEEN 1 AND 4096),
    embedding_signature bit(256),
    embedding_seconds real CHECK (embedding_seconds >= 0),
    assigned_by text CHECK (assigned_by IN ('auto', 'user')),
    CONSTRAINT speakers_embedding_signature_check CHECK ((embedding IS NULL) = (embedding_signature IS NULL))
);
CREATE INDEX speakers_profile_id_idx ON speakers (profile_id) WHERE profile_id IS NOT NULL;
CREATE INDEX speakers_user_id_idx ON speakers (user_id);

CREATE TABLE speaker_collections (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, name)
);

CREATE TABLE speaker_collection_members (
    collection_id bigint NOT NULL REFERENCES speaker_collections (id) ON DELETE CASCADE,
    profile_id bigint NOT NULL REFERENCES speaker_profiles (id) ON DELETE CASCADE,
    added_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (collection_id, profile_id)
);
CREATE INDEX speaker_collection_members_profile_id_idx ON speaker_collection_members (profile_id);

CREATE TABLE speaker_matches (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    speaker1_id bigint NOT NULL REFERENCES speakers (id) ON DELETE CASCADE,
    speaker2_id bigint NOT NULL REFERENCES speakers (id) ON DELETE CASCADE,
    confidence real NOT NULL CHECK (confidence BETWEEN 0 AND 1),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (speaker1_id < speaker2_id),
    UNIQUE (speaker1_id, speaker2_id)
);
CREATE INDEX speaker_matches_speaker2_id_idx ON speaker_matches (speaker2_id);

-- transcripts -----------------------------------------------------------------------------------------------------

CREATE TABLE transcript_segments (
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    uuid uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    media_file_id bigint NOT NULL REFERENCES media_files (id) ON DELETE CASCADE,
    speaker_id bigint REFERENCES speakers (id) ON DELETE SET NULL,
    start_time double precision NOT NULL CHECK (start_time >= 0),
    end_time double precision NOT NULL,
    text text NOT NULL,
    search_vector tsvector GENERATED ALWAYS AS (to_tsvector('english'::regconfig, text)) STORED,
    -- 0012_edit_versions: bumped by each edit; PUT with If-Match compares it (412 if stale)
    version integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    CHECK (end_time >= start_time)
);
CREATE UNIQUE INDEX transcript_segments_identity_key
    ON transcript_segments (media_file_id, start_time, end_time, md5(text));
CREATE INDEX transcript_segments_speaker_id_idx ON transcript_segments (speaker_id) WHERE speaker_id IS NOT NULL;
CREATE INDEX transcript_segments_search_idx ON transcript_segments USING gin (search_vector);

-- tags, comments, collections -------------------------------------------------------------------------------------

CREATE TABLE tags (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    name text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100 AND name = btrim(name)),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE file_tags (
    media_file_id bigint NOT NULL REFERENCES media_files (id) ON DELETE CASCADE,
    tag_id bigint NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (media_file_id, tag_id)
);
CREATE INDEX file_tags_tag_id_idx ON file_tags (tag_id);

CREATE TABLE comments (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    media_file_id bigint NOT NULL REFERENCES media_files (id) ON DELETE CASCADE,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    text text NOT NULL CHECK (length(text) BETWEEN 1 AND 10000),
    timestamp double precision CHECK (timestamp >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX comments_media_file_id_idx ON comments (media_file_id, created_at);
CREATE INDEX comments_user_id_idx ON comments (user_id);

CREATE TABLE collections (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, name)
);

CREATE TABLE collection_members (
    collection_id bigint NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    media_file_id bigint NOT NULL REFERENCES media_files (id) ON DELETE CASCADE,
    added_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (collection_id, media_file_id)
);
CREATE INDEX collection_members_media_file_id_idx ON collection_members (media_file_id);

-- background work -------------------------------------------------------------------------------------------------

CREATE TABLE tasks (
    id text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 200),
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    media_file_id bigint REFERENCES media_files (id) ON DELETE CASCADE,
    -- a kind of job declared in jobs/registry.py (or an imported task's type); the registry lists them, not this
    task_type text NOT NULL CHECK (task_type ~ '^[a-z][a-z0-9_]{0,49}$'),
    status text NOT NULL DEFAULT 'pending' CHECK (status IN (
        'pending', 'in_progress', 'completed', 'failed', 'cancelled')),
    progress real NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 1),
    error_message text,
    heartbeat_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz
);
CREATE INDEX tasks_user_id_idx ON tasks (user_id, created_at DESC);
CREATE INDEX tasks_media_file_id_idx ON tasks (media_file_id);
CREATE INDEX tasks_open_idx ON tasks (status) WHERE status IN ('pending', 'in_progress');

CREATE TABLE analytics (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    media_file_id bigint NOT NULL UNIQUE REFERENCES media_files (id) ON DELETE CASCADE,
    speaker_stats jsonb NOT NULL DEFAULT '{}',
    keywords jsonb NOT NULL DEFAULT '[]',
    sentiment jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- settings and AI -------------------------------------------------------------------------------------------------

CREATE TABLE user_settings (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key text NOT NULL CHECK (key ~ '^[a-z][a-z0-9_.]{0,99}$'),
    value jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, key)
);

CREATE TABLE user_llm_configurations (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    provider text NOT NULL CHECK (provider IN ('openai', 'anthropic', 'ollama', 'vllm', 'openrouter', 'custom')),
    model_name text NOT NULL CHECK (length(model_name) BETWEEN 1 AND 200),
    base_url text,
    api_key_encrypted bytea,
    api_key_version integer,
    max_tokens integer NOT NULL DEFAULT 4096 CHECK (max_tokens > 0),
    temperature real NOT NULL DEFAULT 0.3 CHECK (temperature BETWEEN 0 AND 2),
    is_active boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, name),
    CHECK ((api_key_encrypted IS NULL) = (api_key_version IS NULL))
);
CREATE UNIQUE INDEX user_llm_configurations_one_active_key ON user_llm_configurations (user_id) WHERE is_active;

CREATE TABLE llm_connection_tests (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    configuration_id bigint NOT NULL REFERENCES user_llm_configurations (id) ON DELETE CASCADE,
    tested_at timestamptz NOT NULL DEFAULT now(),
    ok boolean NOT NULL,
    latency_ms integer CHECK (latency_ms >= 0),
    message text
);
CREATE INDEX llm_connection_tests_configuration_id_idx ON llm_connection_tests (configuration_id, tested_at DESC);

CREATE TABLE summary_prompts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    user_id bigint REFERENCES users (id) ON DELETE CASCADE,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description text,
    prompt_text text NOT NULL CHECK (length(prompt_text) BETWEEN 1 AND 100000),
    content_type text NOT NULL DEFAULT 'general' CHECK (content_type IN (
        'general', 'meeting', 'interview', 'podcast', 'documentary', 'lecture', 'speaker_identification')),
    is_system_default boolean NOT NULL DEFAULT false,
    is_active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (NOT is_system_default OR user_id IS NULL),
    UNIQUE NULLS NOT DISTINCT (user_id, name)
);
CREATE UNIQUE INDEX summary_prompts_one_system_default_key ON summary_prompts (content_type) WHERE is_system_default;

CREATE TABLE file_summaries (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    media_file_id bigint NOT NULL REFERENCES media_files (id) ON DELETE CASCADE,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    prompt_id bigint REFERENCES summary_prompts (id) ON DELETE SET NULL,
    llm_configuration_id bigint REFERENCES user_llm_configurations (id) ON DELETE SET NULL,
    provider text,
    model_name text,
    version integer NOT NULL CHECK (version > 0),
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'processing', 'completed', 'failed')),
    bluf text,
    brief_summary text,
    major_topics jsonb NOT NULL DEFAULT '[]',
    action_items jsonb NOT NULL DEFAULT '[]',
    key_decisions jsonb NOT NULL DEFAULT '[]',
    follow_up_items jsonb NOT NULL DEFAULT '[]',
    raw_response text,
    error_message text,
    input_tokens integer CHECK (input_tokens >= 0),
    output_tokens integer CHECK (output_tokens >= 0),
    processing_ms integer CHECK (processing_ms >= 0),
    started_at timestamptz,
    completed_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    search_vector tsvector GENERATED ALWAYS AS (
        to_tsvector('english'::regconfig, coalesce(bluf, '') || ' ' || coalesce(brief_summary, ''))) STORED,
    UNIQUE (media_file_id, version)
);
CREATE INDEX file_summaries_user_id_idx ON file_summaries (user_id);
CREATE INDEX file_summaries_search_idx ON file_summaries USING gin (search_vector);

-- notifications ---------------------------------------------------------------------------------------------------

CREATE TABLE notifications (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind text NOT NULL CHECK (kind ~ '^[a-z]{1,40}$'),  -- 0012: the kinds are repo/notifications.py's KINDS
    title text NOT NULL CHECK (length(title) BETWEEN 1 AND 500),
    message text NOT NULL DEFAULT '',
    data jsonb NOT NULL DEFAULT '{}',
    progress real CHECK (progress BETWEEN 0 AND 1),
    media_file_id bigint REFERENCES media_files (id) ON DELETE SET NULL,
    task_id text REFERENCES tasks (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    read_at timestamptz
);
CREATE INDEX notifications_user_id_idx ON notifications (user_id, created_at DESC, id DESC);
CREATE INDEX notifications_unread_idx ON notifications (user_id) WHERE read_at IS NULL;
CREATE INDEX notifications_media_file_id_idx ON notifications (media_file_id) WHERE media_file_id IS NOT NULL;
CREATE INDEX notifications_task_id_idx ON notifications (task_id) WHERE task_id IS NOT NULL;

CREATE TABLE notification_preferences (
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind text NOT NULL CHECK (kind ~ '^[a-z]{1,40}$'),  -- 0012: the kinds are repo/notifications.py's KINDS
    in_app boolean NOT NULL DEFAULT true,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, kind)
);

-- updated_at is kept by the database, not by the application ----------------------------------------------------

CREATE TRIGGER users_updated_at BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER media_files_updated_at BEFORE UPDATE ON media_files FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER speaker_profiles_updated_at BEFORE UPDATE ON speaker_profiles
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER speakers_updated_at BEFORE UPDATE ON speakers FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER speaker_collections_updated_at BEFORE UPDATE ON speaker_collections
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER speaker_matches_updated_at BEFORE UPDATE ON speaker_matches
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER comments_updated_at BEFORE UPDATE ON comments FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER collections_updated_at BEFORE UPDATE ON collections FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER tasks_updated_at BEFORE UPDATE ON tasks FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER analytics_updated_at BEFORE UPDATE ON analytics FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER user_settings_updated_at BEFORE UPDATE ON user_settings
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER user_llm_configurations_updated_at BEFORE UPDATE ON user_llm_configurations
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER summary_prompts_updated_at BEFORE UPDATE ON summary_prompts
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER file_summaries_updated_at BEFORE UPDATE ON file_summaries
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER notification_preferences_updated_at BEFORE UPDATE ON notification_preferences
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- seed rows: the two system prompts -------------------------------------------------------------------------------

INSERT INTO summary_prompts (user_id, name, description, prompt_text, content_type, is_system_default) VALUES
(NULL, 'Universal Content Analyzer',
 'BLUF (bottom line up front) summary of any recording: topics, decisions, action items.',
 'You analyse transcripts of recordings. Answer with one JSON object and nothing else, with the keys:
"bluf" (two or three sentences: the bottom line up front), "brief_summary" (one paragraph),
"major_topics" (list of strings), "action_items" (list of strings), "key_decisions" (list of strings),
"follow_up_items" (list of strings). Use only what the transcript says.

Speakers:
{speaker_data}

Transcript:
{transcript}
',
 'general', true),
(NULL, 'Speaker Identification Assistant',
 'Suggests real names for the diarized speaker labels from what is said in the recording.',
 'The transcript below labels speakers SPEAKER_00, SPEAKER_01 and so on. From introductions, forms of address
and context, suggest who each speaker is. Answer with one JSON object mapping each label to an object with
"name" (or null when unknown), "confidence" (0 to 1) and "reason".

Speakers:
{speaker_data}

Transcript:
{transcript}
',
 'speaker_identification', true);

-- migration 0002_segments_by_file_index: a narrow per-file index for segment counts, deletes and search -----------

CREATE INDEX transcript_segments_media_file_id_idx ON transcript_segments (media_file_id);

-- migration 0003_transcript_staging: segments staged per task while an engine runs ---------------------------------

CREATE TABLE transcript_staging (
    task_id text NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    seq integer NOT NULL CHECK (seq >= 0),
    start_time double precision NOT NULL CHECK (start_time >= 0),
    end_time double precision NOT NULL,
    text text NOT NULL,
    speaker_label text CHECK (length(speaker_label) BETWEEN 1 AND 100),
    words json,
    PRIMARY KEY (task_id, seq),
    CHECK (end_time >= start_time)
);

-- migration 0004_speakers: voice matching -------------------------------------------------------------------------

CREATE INDEX speakers_voice_idx ON speakers (user_id) INCLUDE (id, media_file_id, embedding_signature)
    WHERE embedding_signature IS NOT NULL;

CREATE TABLE speaker_profile_suggestions (
    speaker_id bigint NOT NULL REFERENCES speakers (id) ON DELETE CASCADE,
    profile_id bigint NOT NULL REFERENCES speaker_profiles (id) ON DELETE CASCADE,
    confidence real NOT NULL CHECK (confidence BETWEEN 0 AND 1),
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'accepted', 'rejected')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (speaker_id, profile_id)
);
CREATE INDEX speaker_profile_suggestions_profile_id_idx ON speaker_profile_suggestions (profile_id);
CREATE TRIGGER speaker_profile_suggestions_updated_at BEFORE UPDATE ON speaker_profile_suggestions
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Cosine similarity of two unit-length embeddings (their dot product); NULL when the dimensions differ (embeddings
-- of two different models are not comparable). Clamped to [-1, 1] against float rounding.
CREATE FUNCTION voice_similarity(a real[], b real[]) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN cardinality(a) = cardinality(b) THEN
        greatest(-1.0, least(1.0, (SELECT sum(x::float8 * y) FROM unnest(a, b) AS t (x, y))))
    END
$$;

-- migration 0005_segment_words: word timings beside the segments, a version per transcript for ETags ------------

CREATE TABLE segment_words (
    segment_id bigint PRIMARY KEY REFERENCES transcript_segments (id) ON DELETE CASCADE,
    words json NOT NULL
);

CREATE SEQUENCE transcript_version_seq;

CREATE TABLE transcript_versions (
    media_file_id bigint PRIMARY KEY REFERENCES media_files (id) ON DELETE CASCADE,
    version bigint NOT NULL
);

CREATE FUNCTION bump_transcript_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- `changed` is the statement's transition table. A file deleted by the same statement (the cascade from
    -- media_files) gets no new version: it has no transcript left to serve.
    INSERT INTO transcript_versions (media_file_id, version)
    SELECT d.media_file_id, nextval('transcript_version_seq')
    FROM (SELECT DISTINCT media_file_id FROM changed) d
    WHERE EXISTS (SELECT 1 FROM media_files f WHERE f.id = d.media_file_id)
    ON CONFLICT (media_file_id) DO UPDATE SET version = excluded.version;
    RETURN NULL;
END
$$;

CREATE TRIGGER transcript_segments_inserted AFTER INSERT ON transcript_segments
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION bump_transcript_version();
CREATE TRIGGER transcript_segments_updated AFTER UPDATE ON transcript_segments
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION bump_transcript_version();
CREATE TRIGGER transcript_segments_deleted AFTER DELETE ON transcript_segments
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION bump_transcript_version();
CREATE TRIGGER speakers_updated AFTER UPDATE ON speakers
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION bump_transcript_version();

-- migration 0006_url_imports: media imported from a URL; rows brought over from another platform ---------------

CREATE TABLE url_imports (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    task_id text NOT NULL UNIQUE REFERENCES tasks (id) ON DELETE CASCADE,
    url text NOT NULL CHECK (length(url) BETWEEN 1 AND 2000),
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'downloading', 'completed', 'failed')),
    bytes_received bigint NOT NULL DEFAULT 0 CHECK (bytes_received >= 0),
    bytes_total bigint CHECK (bytes_total >= 0),
    media_file_id bigint REFERENCES media_files (id) ON DELETE SET NULL,
    error_message text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX url_imports_user_id_idx ON url_imports (user_id, created_at DESC);
CREATE TRIGGER url_imports_updated_at BEFORE UPDATE ON url_imports FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE import_origins (
    source text NOT NULL CHECK (length(source) BETWEEN 1 AND 100),
    source_table text NOT NULL CHECK (length(source_table) BETWEEN 1 AND 100),
    source_key text NOT NULL CHECK (length(source_key) BETWEEN 1 AND 500),
    target_id bigint,
    imported_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, source_table, source_key),
    -- 0007_import_origins_keys: the key of a row without a bigint id (a link row's ids "12,4", a task's id)
    target_key text CHECK (length(target_key) BETWEEN 1 AND 500),
    CONSTRAINT import_origins_one_target_check CHECK ((target_id IS NULL) <> (target_key IS NULL))
);

-- migration 0010_processing_choices: how each file is to be processed, kept for its re-runs ------------------------

CREATE TABLE processing_choices (
    media_file_id bigint PRIMARY KEY REFERENCES media_files (id) ON DELETE CASCADE,
    model text CHECK (length(model) BETWEEN 1 AND 500),
    language text CHECK (language ~ '^[a-z]{2,3}$'),
    task text NOT NULL DEFAULT 'transcribe' CHECK (task IN ('transcribe', 'translate')),
    vocabulary text CHECK (length(vocabulary) BETWEEN 1 AND 500),
    diarization boolean NOT NULL DEFAULT true,
    summary boolean NOT NULL DEFAULT false,
    summary_prompt_id bigint REFERENCES summary_prompts (id) ON DELETE SET NULL,
    -- the one stage a queued media job is to redo (NULL: the whole pipeline); cleared when the job completes
    rerun_stage text CHECK (rerun_stage IN ('transcription', 'diarization', 'speakers')),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX processing_choices_summary_prompt_id_idx ON processing_choices (summary_prompt_id);
CREATE TRIGGER processing_choices_updated_at BEFORE UPDATE ON processing_choices
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- migration 0013_sharing: groups, shares, public links, and the one access rule (shared_files) ------------------

CREATE TABLE groups (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description text CHECK (length(description) <= 2000),
    created_by bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX groups_created_by_idx ON groups (created_by);
CREATE TRIGGER groups_updated_at BEFORE UPDATE ON groups FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE group_members (
    group_id bigint NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role text NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'member')),
    added_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user_id_idx ON group_members (user_id, group_id);

-- One row grants one grantee (a user or a group) one role on one object (a file, a collection or a speaker profile).
-- A role is a rank: viewer 1 (read, play, export), commenter 2 (+ comments), editor 3 (+ edit segments, speakers,
-- tags, re-run); the owner (rank 4) is media_files.user_id and is never a share.
CREATE TABLE shares (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    media_file_id bigint REFERENCES media_files (id) ON DELETE CASCADE,
    collection_id bigint REFERENCES collections (id) ON DELETE CASCADE,
    speaker_profile_id bigint REFERENCES speaker_profiles (id) ON DELETE CASCADE,
    user_id bigint REFERENCES users (id) ON DELETE CASCADE,
    group_id bigint REFERENCES groups (id) ON DELETE CASCADE,
    role text NOT NULL CHECK (role IN ('viewer', 'commenter', 'editor')),
    rank smallint GENERATED ALWAYS AS (CASE role WHEN 'editor' THEN 3 WHEN 'commenter' THEN 2 ELSE 1 END) STORED,
    shared_by bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT shares_one_object_check CHECK (num_nonnulls(media_file_id, collection_id, speaker_profile_id) = 1),
    CONSTRAINT shares_one_grantee_check CHECK (num_nonnulls(user_id, group_id) = 1)
);
-- One share per object and grantee: sharing again changes the role (an upsert on these).
CREATE UNIQUE INDEX shares_file_user_key ON shares (media_file_id, user_id) WHERE media_file_id IS NOT NULL AND user_id IS NOT NULL;
CREATE UNIQUE INDEX shares_file_group_key ON shares (media_file_id, group_id) WHERE media_file_id IS NOT NULL AND group_id IS NOT NULL;
CREATE UNIQUE INDEX shares_collection_user_key ON shares (collection_id, user_id) WHERE collection_id IS NOT NULL AND user_id IS NOT NULL;
CREATE UNIQUE INDEX shares_collection_group_key ON shares (collection_id, group_id) WHERE collection_id IS NOT NULL AND group_id IS NOT NULL;
CREATE UNIQUE INDEX shares_profile_user_key ON shares (speaker_profile_id, user_id) WHERE speaker_profile_id IS NOT NULL AND user_id IS NOT NULL;
CREATE UNIQUE INDEX shares_profile_group_key ON shares (speaker_profile_id, group_id) WHERE speaker_profile_id IS NOT NULL AND group_id IS NOT NULL;
-- "What is shared with me": by grantee first.
CREATE INDEX shares_user_id_idx ON shares (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX shares_group_id_idx ON shares (group_id) WHERE group_id IS NOT NULL;
CREATE INDEX shares_shared_by_idx ON shares (shared_by);

-- A read-only link to one file for people without an account. Only the SHA-256 of the token is stored.
CREATE TABLE public_links (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    media_file_id bigint NOT NULL REFERENCES media_files (id) ON DELETE CASCADE,
    token_hash bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    created_by bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    revoked_at timestamptz,
    use_count bigint NOT NULL DEFAULT 0 CHECK (use_count >= 0),
    last_used_at timestamptz,
    CHECK (expires_at IS NULL OR expires_at > created_at)
);
CREATE INDEX public_links_media_file_id_idx ON public_links (media_file_id);
CREATE INDEX public_links_created_by_idx ON public_links (created_by);

-- The files shared with `actor` (directly, through a group, or through a collection the file is in, present or
-- future) with the highest rank any of those shares gives. Own files are not listed: `media_files.user_id = actor`
-- says that, and an index answers it. A single-statement SQL function, so the planner inlines it into the query.
CREATE FUNCTION shared_files(actor bigint) RETURNS TABLE (media_file_id bigint, rank smallint)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT g.media_file_id, max(g.rank)::smallint
    FROM (
        SELECT s.media_file_id, s.rank
        FROM shares s
        WHERE s.media_file_id IS NOT NULL
          AND (s.user_id = actor OR s.group_id IN (SELECT gm.group_id FROM group_members gm WHERE gm.user_id = actor))
        UNION ALL
        SELECT cm.media_file_id, s.rank
        FROM shares s JOIN collection_members cm ON cm.collection_id = s.collection_id
        WHERE s.collection_id IS NOT NULL
          AND (s.user_id = actor OR s.group_id IN (SELECT gm.group_id FROM group_members gm WHERE gm.user_id = actor))
    ) g
    GROUP BY g.media_file_id
$$;

-- migration 0014_row_security: row-level security as a second wall (see the migration's comment) --------------

-- The role is cluster-wide: create it once, tolerating a concurrent creation by another database's migration.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'opentr_app') THEN
        CREATE ROLE opentr_app NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;
DO $$
BEGIN
    IF NOT pg_has_role(current_user, 'opentr_app', 'MEMBER') THEN
        EXECUTE format('GRANT opentr_app TO %I', current_user);
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;
DO $$
BEGIN
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        ALTER FUNCTION pg_catalog.ts_match_vq(tsvector, tsquery) LEAKPROOF;
    END IF;
END
$$;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO opentr_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO opentr_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO opentr_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO opentr_app;

-- The acting user of this transaction (NULL: nobody).
CREATE FUNCTION rls_actor() RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT nullif(current_setting('opentr.actor_id', true), '')::bigint
$$;

-- Whether the acting user is an administrator (they write the system's prompts and manage groups).
CREATE FUNCTION rls_is_admin() RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(nullif(current_setting('opentr.is_admin', true), '')::boolean, false)
$$;

-- shared_files() reads shares, groups and collections as their owner: the fragments call it in every query, and under
-- the policies of those three tables (which themselves ask who may see what) its plan grew a dozen nested
-- sub-plans per call, which made the library page 5x and a rare-phrase search 27x slower (bench measure 9/11).
-- Decided once here, inside; a SECURITY DEFINER function is not inlined, so each statement runs it once, hashed.
ALTER FUNCTION shared_files(bigint) SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp;

-- Every file the acting user may read (their own and those shared with them), as an array that a policy hashes
-- once per statement. One statement often meets several policies (the library page: segments, speakers, tags) and a
-- request several statements, so the array is kept for the rest of the transaction in a transaction-local setting,
-- `opentr.files` = '<actor>:<array>' (another actor recomputes it), and forgotten by any write in this transaction
-- that can change what the actor reads: a file created, given away or deleted, a share, a membership of a group or
-- a collection (the statement triggers below). Another transaction's such write is seen from the next transaction
-- on, as under REPEATABLE READ. PL/pgSQL caches its plan per session.
CREATE FUNCTION rls_files() RETURNS bigint[]
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    actor bigint := rls_actor();
    kept text := current_setting('opentr.files', true);
    files bigint[];
BEGIN
    IF kept IS NOT NULL AND kept <> '' AND split_part(kept, ':', 1) = coalesce(actor::text, '') THEN
        RETURN split_part(kept, ':', 2)::bigint[];
    END IF;
    files := ARRAY(SELECT f.id FROM media_files f WHERE f.user_id = actor
                   UNION ALL SELECT a.media_file_id FROM shared_files(actor) a);
    PERFORM set_config('opentr.files', coalesce(actor::text, '') || ':' || files::text, true);
    RETURN files;
END
$$;
CREATE FUNCTION rls_forget_files() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('opentr.files', '', true);
    RETURN NULL;
END
$$;
CREATE TRIGGER media_files_forget_rls_files AFTER INSERT OR DELETE OR UPDATE OF user_id ON media_files
    FOR EACH STATEMENT EXECUTE FUNCTION rls_forget_files();
CREATE TRIGGER shares_forget_rls_files AFTER INSERT OR UPDATE OR DELETE ON shares
    FOR EACH STATEMENT EXECUTE FUNCTION rls_forget_files();
CREATE TRIGGER group_members_forget_rls_files AFTER INSERT OR UPDATE OR DELETE ON group_members
    FOR EACH STATEMENT EXECUTE FUNCTION rls_forget_files();
CREATE TRIGGER collection_members_forget_rls_files AFTER INSERT OR UPDATE OR DELETE ON collection_members
    FOR EACH STATEMENT EXECUTE FUNCTION rls_forget_files();
-- The files shared with `actor` at `min_rank` or more (shared_files, read as the owner: no RLS inside).
CREATE FUNCTION rls_shared_files(actor bigint, min_rank smallint) RETURNS SETOF bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT a.media_file_id FROM shared_files(actor) a WHERE a.rank >= min_rank
$$;
-- The groups `actor` is a member of.
CREATE FUNCTION rls_groups(actor bigint) RETURNS SETOF bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT gm.group_id FROM group_members gm WHERE gm.user_id = actor
$$;
-- The collections and the speaker profiles shared with `actor`, directly or through a group.
CREATE FUNCTION rls_shared_collections(actor bigint) RETURNS SETOF bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT s.collection_id FROM shares s
    WHERE s.collection_id IS NOT NULL
      AND (s.user_id = actor OR s.group_id IN (SELECT gm.group_id FROM group_members gm WHERE gm.user_id = actor))
$$;
CREATE FUNCTION rls_shared_profiles(actor bigint) RETURNS SETOF bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT s.speaker_profile_id FROM shares s
    WHERE s.speaker_profile_id IS NOT NULL
      AND (s.user_id = actor OR s.group_id IN (SELECT gm.group_id FROM group_members gm WHERE gm.user_id = actor))
$$;

-- media files: read at any rank, edit as an editor, delete as the owner, create as oneself.
ALTER TABLE media_files ENABLE ROW LEVEL SECURITY;
CREATE POLICY media_files_read ON media_files FOR SELECT USING (
    user_id = (SELECT rls_actor())
    OR id IN (SELECT rls_shared_files((SELECT rls_actor()), 1::smallint)));
CREATE POLICY media_files_edit ON media_files FOR UPDATE USING (
    user_id = (SELECT rls_actor())
    OR id IN (SELECT rls_shared_files((SELECT rls_actor()), 3::smallint)));
CREATE POLICY media_files_delete ON media_files FOR DELETE USING (
    user_id = (SELECT rls_actor()));
CREATE POLICY media_files_create ON media_files FOR INSERT WITH CHECK (user_id = (SELECT rls_actor()));

-- What belongs to a media file follows the file (media_files' policy applies inside the sub-select). The ranks of
-- writing (comment, edit) are the fragments' concern; this wall keeps every file one may not see out of reach.
ALTER TABLE transcript_segments ENABLE ROW LEVEL SECURITY;
CREATE POLICY transcript_segments_of_file ON transcript_segments USING (media_file_id IN (SELECT unnest(rls_files())));
ALTER TABLE segment_words ENABLE ROW LEVEL SECURITY;
CREATE POLICY segment_words_of_file ON segment_words USING (
    EXISTS (SELECT 1 FROM transcript_segments s WHERE s.id = segment_id));
ALTER TABLE transcript_versions ENABLE ROW LEVEL SECURITY;
CREATE POLICY transcript_versions_of_file ON transcript_versions USING (media_file_id IN (SELECT unnest(rls_files())));
ALTER TABLE speakers ENABLE ROW LEVEL SECURITY;
CREATE POLICY speakers_of_file ON speakers USING (media_file_id IN (SELECT unnest(rls_files())));
ALTER TABLE speaker_matches ENABLE ROW LEVEL SECURITY;
CREATE POLICY speaker_matches_of_file ON speaker_matches USING (speaker1_id IN (SELECT id FROM speakers));
ALTER TABLE speaker_profile_suggestions ENABLE ROW LEVEL SECURITY;
CREATE POLICY speaker_profile_suggestions_of_file ON speaker_profile_suggestions USING (
    speaker_id IN (SELECT id FROM speakers));
ALTER TABLE file_tags ENABLE ROW LEVEL SECURITY;
CREATE POLICY file_tags_of_file ON file_tags USING (media_file_id IN (SELECT unnest(rls_files())));
ALTER TABLE comments ENABLE ROW LEVEL SECURITY;
CREATE POLICY comments_of_file ON comments USING (media_file_id IN (SELECT unnest(rls_files())));
ALTER TABLE collection_members ENABLE ROW LEVEL SECURITY;
CREATE POLICY collection_members_of_file ON collection_members USING (media_file_id IN (SELECT unnest(rls_files())));
ALTER TABLE analytics ENABLE ROW LEVEL SECURITY;
CREATE POLICY analytics_of_file ON analytics USING (media_file_id IN (SELECT unnest(rls_files())));
ALTER TABLE file_summaries ENABLE ROW LEVEL SECURITY;
CREATE POLICY file_summaries_of_file ON file_summaries USING (media_file_id IN (SELECT unnest(rls_files())));
ALTER TABLE processing_choices ENABLE ROW LEVEL SECURITY;
CREATE POLICY processing_choices_of_file ON processing_choices USING (media_file_id IN (SELECT unnest(rls_files())));
ALTER TABLE public_links ENABLE ROW LEVEL SECURITY;
CREATE POLICY public_links_of_file ON public_links USING (media_file_id IN (SELECT unnest(rls_files())));

-- Work: one's own tasks and those on files one sees; staged segments follow their task.
ALTER TABLE tasks ENABLE ROW LEVEL SECURITY;
CREATE POLICY tasks_own ON tasks USING (
    user_id = (SELECT rls_actor()) OR media_file_id IN (SELECT unnest(rls_files())));
ALTER TABLE transcript_staging ENABLE ROW LEVEL SECURITY;
CREATE POLICY transcript_staging_of_task ON transcript_staging USING (task_id IN (SELECT id FROM tasks));
ALTER TABLE url_imports ENABLE ROW LEVEL SECURITY;
CREATE POLICY url_imports_own ON url_imports USING (user_id = (SELECT rls_actor()));

-- One's own, plus what is shared with one (read only).
ALTER TABLE collections ENABLE ROW LEVEL SECURITY;
CREATE POLICY collections_own ON collections USING (user_id = (SELECT rls_actor()));
CREATE POLICY collections_shared ON collections FOR SELECT USING (
    id IN (SELECT rls_shared_collections((SELECT rls_actor()))));
ALTER TABLE speaker_profiles ENABLE ROW LEVEL SECURITY;
CREATE POLICY speaker_profiles_own ON speaker_profiles USING (
    user_id = (SELECT rls_actor()));
CREATE POLICY speaker_profiles_shared ON speaker_profiles FOR SELECT USING (
    id IN (SELECT rls_shared_profiles((SELECT rls_actor()))));
ALTER TABLE speaker_collections ENABLE ROW LEVEL SECURITY;
CREATE POLICY speaker_collections_own ON speaker_collections USING (
    user_id = (SELECT rls_actor()));
ALTER TABLE speaker_collection_members ENABLE ROW LEVEL SECURITY;
CREATE POLICY speaker_collection_members_of_collection ON speaker_collection_members USING (
    collection_id IN (SELECT id FROM speaker_collections));

-- A person's own settings, LLM configurations, prompts (the system's prompts are read by all, written by
-- administrators) and notifications.
-- A notification is read by its addressee only; it is written as the system (repo/notifications.py), whoever
-- causes it (a share notifies its grantee, a job its file's owner).
ALTER TABLE user_settings ENABLE ROW LEVEL SECURITY;
CREATE POLICY user_settings_own ON user_settings USING (user_id = (SELECT rls_actor()));
ALTER TABLE user_llm_configurations ENABLE ROW LEVEL SECURITY;
CREATE POLICY user_llm_configurations_own ON user_llm_configurations USING (user_id = (SELECT rls_actor()));
ALTER TABLE llm_connection_tests ENABLE ROW LEVEL SECURITY;
CREATE POLICY llm_connection_tests_own ON llm_connection_tests USING (
    configuration_id IN (SELECT id FROM user_llm_configurations));
ALTER TABLE summary_prompts ENABLE ROW LEVEL SECURITY;
CREATE POLICY summary_prompts_own ON summary_prompts USING (user_id = (SELECT rls_actor()));
CREATE POLICY summary_prompts_system ON summary_prompts FOR SELECT USING (user_id IS NULL);
CREATE POLICY summary_prompts_system_admin ON summary_prompts USING (user_id IS NULL AND (SELECT rls_is_admin()));
ALTER TABLE notifications ENABLE ROW LEVEL SECURITY;
CREATE POLICY notifications_own ON notifications USING (user_id = (SELECT rls_actor()));
ALTER TABLE notification_preferences ENABLE ROW LEVEL SECURITY;
CREATE POLICY notification_preferences_own ON notification_preferences USING (user_id = (SELECT rls_actor()));

-- Groups: a member sees the group and its members; its creator too (to add the first member); administrators
-- manage every group. Shares: seen by the grantee (or a member of the grantee group), the sharer and
-- the object's owner (who has access is the owner's to know, not every viewer's); written by the object's owner (and
-- the grantee may drop a share given to them).
ALTER TABLE groups ENABLE ROW LEVEL SECURITY;
CREATE POLICY groups_member ON groups USING (
    created_by = (SELECT rls_actor()) OR (SELECT rls_is_admin())
    OR id IN (SELECT rls_groups((SELECT rls_actor()))));
ALTER TABLE group_members ENABLE ROW LEVEL SECURITY;
CREATE POLICY group_members_of_group ON group_members USING (group_id IN (SELECT id FROM groups));
-- One's own memberships: a new group and its creator's membership are written (and returned) by one statement
-- (sql/groups.sql: create), whose policy sub-select cannot see the group yet; leaving is deleting one's own row.
-- Which groups one may join or what role one has is the application's rule, not this wall's.
CREATE POLICY group_members_self ON group_members USING (user_id = (SELECT rls_actor()));
ALTER TABLE shares ENABLE ROW LEVEL SECURITY;
CREATE POLICY shares_read ON shares FOR SELECT USING (
    user_id = (SELECT rls_actor()) OR shared_by = (SELECT rls_actor())
    OR group_id IN (SELECT rls_groups((SELECT rls_actor()))));
CREATE POLICY shares_write ON shares USING (
    media_file_id IN (SELECT id FROM media_files WHERE user_id = (SELECT rls_actor()))
    OR collection_id IN (SELECT id FROM collections WHERE user_id = (SELECT rls_actor()))
    OR speaker_profile_id IN (SELECT id FROM speaker_profiles WHERE user_id = (SELECT rls_actor())));
CREATE POLICY shares_leave ON shares FOR DELETE USING (user_id = (SELECT rls_actor()));

-- migration 0015_passages: passages of transcripts and their embeddings (see the migration's comment) ------------

DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_available_extensions WHERE name = 'vector')
       AND (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        CREATE EXTENSION IF NOT EXISTS vector;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- another database's migration created it at the same moment
END
$$;

CREATE TABLE passages (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    media_file_id bigint NOT NULL REFERENCES media_files (id) ON DELETE CASCADE,
    position integer NOT NULL CHECK (position >= 0),
    start_time double precision NOT NULL CHECK (start_time >= 0),
    end_time double precision NOT NULL CHECK (end_time >= start_time),
    text text NOT NULL,
    model text NOT NULL CHECK (length(model) BETWEEN 1 AND 200),
    transcript_version bigint NOT NULL,
    embedding real[] NOT NULL CHECK (cardinality(embedding) BETWEEN 1 AND 4096),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (media_file_id, position)
);

-- The real[] is read only to write passages again (its vector column is what searches read): out of the row, and
-- not compressed (floats do not compress).
ALTER TABLE passages ALTER COLUMN embedding SET STORAGE EXTERNAL;
ALTER TABLE passages ENABLE ROW LEVEL SECURITY;
CREATE POLICY passages_of_file ON passages USING (media_file_id IN (SELECT unnest(rls_files())));

-- Where pgvector is, each vector is also kept as a `vector`, generated from `embedding`: scoring a `real[]` costs its
-- cast to `vector`, about five times the distance itself (an exact scan of 50,000 384-d passages: 140 ms against
-- 30 ms). This function adds that column when the extension is there and the column is not: at this migration, and
-- again from repo/passages.py once pgvector is added to a server later (`opentr embeddings rebuild`). True when
-- search by meaning can run.
CREATE FUNCTION ensure_passage_vectors() RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'vector') THEN
        RETURN false;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'passages'::regclass
                   AND attname = 'embedding_vector' AND NOT attisdropped) THEN
        EXECUTE 'ALTER TABLE passages ADD COLUMN embedding_vector vector GENERATED ALWAYS AS (embedding::vector) STORED';
        -- Kept in the row, where an exact scan reads it: moved out (to TOAST) only as a last resort (MAIN), after the
        -- text and the real[] (EXTERNAL, above). Left to the defaults, a passage's row is a little over TOAST's
        -- 2 kB target and the vector goes out of line: 20,000 passages scored in 64 ms instead of 13 ms.
        ALTER TABLE passages ALTER COLUMN embedding_vector SET STORAGE MAIN;
    END IF;
    RETURN true;
END
$$;
SELECT ensure_passage_vectors();

-- migration 0016_questions: questions asked of one's recordings, with their answers (see the migration's comment) --

CREATE TABLE questions (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scope text NOT NULL CHECK (scope IN ('file', 'collection', 'all')),
    media_file_id bigint REFERENCES media_files (id) ON DELETE CASCADE,
    collection_id bigint REFERENCES collections (id) ON DELETE SET NULL,
    question text NOT NULL CHECK (length(question) BETWEEN 1 AND 2000),
    answer text NOT NULL,
    citations jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(citations) = 'array'),
    provider text NOT NULL CHECK (length(provider) BETWEEN 1 AND 40),
    model_name text NOT NULL CHECK (length(model_name) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now(),
    -- a file question names its file; a collection question its collection until that is deleted; `all` neither
    CONSTRAINT questions_scope_reference_check CHECK (
        (scope = 'file' AND media_file_id IS NOT NULL AND collection_id IS NULL)
        OR (scope = 'collection' AND media_file_id IS NULL)
        OR (scope = 'all' AND media_file_id IS NULL AND collection_id IS NULL))
);
CREATE INDEX questions_user_id_idx ON questions (user_id, created_at DESC, id DESC);
CREATE INDEX questions_media_file_id_idx ON questions (media_file_id) WHERE media_file_id IS NOT NULL;
CREATE INDEX questions_collection_id_idx ON questions (collection_id) WHERE collection_id IS NOT NULL;

-- Personal, as notifications are: only the asker reads, lists or deletes them, administrators included.
ALTER TABLE questions ENABLE ROW LEVEL SECURITY;
CREATE POLICY questions_own ON questions USING (user_id = (SELECT rls_actor()));

-- migration 0017_identity_and_audit: the audit trail, identities from elsewhere, sessions' details (see the migration) -

CREATE TABLE audit_log (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor_id bigint,
    actor_email text CHECK (length(actor_email) <= 320),
    action text NOT NULL CHECK (action ~ '^[a-z][a-z_]*(\.[a-z][a-z_]*)+$' AND length(action) <= 80),
    outcome text NOT NULL DEFAULT 'success' CHECK (outcome IN ('success', 'failure', 'refused')),
    object_type text CHECK (length(object_type) <= 40),
    object_id text CHECK (length(object_id) <= 200),
    address inet,
    details jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(details) = 'object')
);
CREATE INDEX audit_log_at_idx ON audit_log (at DESC, id DESC);
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, at DESC) WHERE actor_id IS NOT NULL;
CREATE INDEX audit_log_action_idx ON audit_log (action, at DESC);
CREATE INDEX audit_log_object_idx ON audit_log (object_type, object_id) WHERE object_id IS NOT NULL;

CREATE FUNCTION audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('opentr.audit_purge', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the audit log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege', TABLE = 'audit_log';
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM opentr_app;
ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
-- Anyone may add to the trail (a failed sign-in is written by nobody in particular); administrators read all of
-- it, a person the rows about themselves (their sign-ins, for the sessions page).
CREATE POLICY audit_log_append ON audit_log FOR INSERT WITH CHECK (true);
CREATE POLICY audit_log_read ON audit_log FOR SELECT USING (
    (SELECT rls_is_admin()) OR actor_id = (SELECT rls_actor()));

CREATE TABLE user_identities (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider text NOT NULL CHECK (provider ~ '^(oidc|ldap):[a-z0-9][a-z0-9_-]{0,39}$'),
    subject text NOT NULL CHECK (length(subject) BETWEEN 1 AND 1000),
    email text CHECK (length(email) <= 320),
    created_at timestamptz NOT NULL DEFAULT now(),
    last_login_at timestamptz,
    UNIQUE (provider, subject)
);
CREATE INDEX user_identities_user_id_idx ON user_identities (user_id);
-- Sign-ins read and write them as the system (nobody is signed in yet); a person sees their own, an administrator all.
ALTER TABLE user_identities ENABLE ROW LEVEL SECURITY;
CREATE POLICY user_identities_own ON user_identities USING (
    user_id = (SELECT rls_actor()) OR (SELECT rls_is_admin()));

ALTER TABLE group_members ADD COLUMN managed_by text
    CHECK (managed_by ~ '^(oidc|ldap):[a-z0-9][a-z0-9_-]{0,39}$');

ALTER TABLE auth_tokens
    ADD COLUMN kind text NOT NULL DEFAULT 'api' CHECK (kind IN ('api', 'browser')),
    ADD COLUMN method text NOT NULL DEFAULT 'password' CHECK (length(method) BETWEEN 1 AND 60),
    ADD COLUMN user_agent text CHECK (length(user_agent) <= 500),
    ADD COLUMN address inet;

-- migration 0018_two_factor_and_resets: second factors, recovery codes, reset links, instance settings (see the migration)

CREATE TABLE user_two_factor (
    user_id bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    required boolean NOT NULL DEFAULT false,
    secret_sealed bytea,
    secret_version integer,
    enabled_at timestamptz,
    last_step bigint,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((secret_sealed IS NULL) = (secret_version IS NULL)),
    CHECK (enabled_at IS NULL OR secret_sealed IS NOT NULL)
);
-- Sign-ins read them as the system (nobody is signed in yet); a person sees and changes their own, an administrator
-- all (to require two factors of someone).
ALTER TABLE user_two_factor ENABLE ROW LEVEL SECURITY;
CREATE POLICY user_two_factor_own ON user_two_factor USING (
    user_id = (SELECT rls_actor()) OR (SELECT rls_is_admin()));

CREATE TABLE recovery_codes (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash bytea NOT NULL CHECK (length(code_hash) = 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    used_at timestamptz,
    UNIQUE (user_id, code_hash)
);
ALTER TABLE recovery_codes ENABLE ROW LEVEL SECURITY;
CREATE POLICY recovery_codes_own ON recovery_codes USING (user_id = (SELECT rls_actor()));

CREATE TABLE password_resets (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    address inet
);
CREATE INDEX password_resets_user_id_idx ON password_resets (user_id);
-- Requested and used by someone not signed in: the repository works on them as the system.
ALTER TABLE password_resets ENABLE ROW LEVEL SECURITY;
CREATE POLICY password_resets_own ON password_resets USING (user_id = (SELECT rls_actor()));

CREATE TABLE instance_settings (
    key text PRIMARY KEY CHECK (key ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$' AND length(key) <= 80),
    value jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by bigint REFERENCES users (id) ON DELETE SET NULL
);

ALTER TABLE auth_tokens ADD COLUMN uuid uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE;

-- migration 0019_retention: retention policies, legal holds, deletion notices (see the migration) -------------

CREATE TABLE retention_settings (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    default_days integer CHECK (default_days BETWEEN 1 AND 36500),
    updated_by bigint REFERENCES users (id) ON DELETE SET NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO retention_settings (id) VALUES (true);

ALTER TABLE collections ADD COLUMN retention_days integer CHECK (retention_days BETWEEN 1 AND 36500);

CREATE TABLE legal_holds (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    media_file_id bigint REFERENCES media_files (id) ON DELETE CASCADE,
    collection_id bigint REFERENCES collections (id) ON DELETE CASCADE,
    reason text NOT NULL CHECK (length(reason) BETWEEN 1 AND 1000),
    placed_by bigint REFERENCES users (id) ON DELETE SET NULL,
    placed_at timestamptz NOT NULL DEFAULT now(),
    released_by bigint REFERENCES users (id) ON DELETE SET NULL,
    released_at timestamptz,
    CONSTRAINT legal_holds_one_object_check CHECK ((media_file_id IS NULL) <> (collection_id IS NULL))
);
-- One active hold per object; lifted ones are history.
CREATE UNIQUE INDEX legal_holds_active_file_idx ON legal_holds (media_file_id)
    WHERE released_at IS NULL AND media_file_id IS NOT NULL;
CREATE UNIQUE INDEX legal_holds_active_collection_idx ON legal_holds (collection_id)
    WHERE released_at IS NULL AND collection_id IS NOT NULL;
CREATE INDEX legal_holds_media_file_id_idx ON legal_holds (media_file_id) WHERE media_file_id IS NOT NULL;
CREATE INDEX legal_holds_collection_id_idx ON legal_holds (collection_id) WHERE collection_id IS NOT NULL;
ALTER TABLE legal_holds ENABLE ROW LEVEL SECURITY;
CREATE POLICY legal_holds_read ON legal_holds FOR SELECT USING (
    (SELECT rls_is_admin())
    OR media_file_id IN (SELECT id FROM media_files WHERE user_id = (SELECT rls_actor()))
    OR collection_id IN (SELECT id FROM collections WHERE user_id = (SELECT rls_actor())));
CREATE POLICY legal_holds_place ON legal_holds FOR INSERT WITH CHECK ((SELECT rls_is_admin()));
CREATE POLICY legal_holds_lift ON legal_holds FOR UPDATE USING ((SELECT rls_is_admin()));

CREATE TABLE retention_notices (
    media_file_id bigint NOT NULL REFERENCES media_files (id) ON DELETE CASCADE,
    due_on date NOT NULL,
    notified_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (media_file_id, due_on)
);
-- Written by the retention job (as the system); the owner reads their own.
ALTER TABLE retention_notices ENABLE ROW LEVEL SECURITY;
CREATE POLICY retention_notices_own ON retention_notices FOR SELECT USING (
    media_file_id IN (SELECT id FROM media_files WHERE user_id = (SELECT rls_actor())));

-- migration 0020_data_exports: a person's requests to download everything of theirs (see the migration) --------

CREATE TABLE data_exports (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'processing', 'ready', 'failed', 'expired')),
    progress real NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 1),
    storage_key text UNIQUE CHECK (length(storage_key) BETWEEN 1 AND 300),
    size bigint CHECK (size >= 0),
    files integer CHECK (files >= 0),
    error text CHECK (length(error) <= 2000),
    created_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    ready_at timestamptz,
    expires_at timestamptz,
    CONSTRAINT data_exports_ready_check CHECK (status <> 'ready' OR (
        storage_key IS NOT NULL AND size IS NOT NULL AND ready_at IS NOT NULL AND expires_at IS NOT NULL))
);
CREATE INDEX data_exports_user_id_idx ON data_exports (user_id, created_at DESC, id DESC);
CREATE INDEX data_exports_expires_at_idx ON data_exports (expires_at) WHERE status = 'ready';
-- One being built per person at a time (repo/data_exports.py says so first, in words; this holds under races).
CREATE UNIQUE INDEX data_exports_one_busy_key ON data_exports (user_id) WHERE status IN ('pending', 'processing');

-- Personal, as notifications are: only its owner lists or downloads an export, administrators included.
ALTER TABLE data_exports ENABLE ROW LEVEL SECURITY;
CREATE POLICY data_exports_own ON data_exports USING (user_id = (SELECT rls_actor()));

-- migration 0021_llm_runs: runs of an LLM over a transcript, the usage ledger, token limits (see the migration) --

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

-- migration 0022_summary_shapes: summaries in any shape (bluf, json, markdown), their language, cancelling --

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

-- migration 0023_topics: the topics found in a file, proposed as tags and collections (see the migration) ---

CREATE TABLE file_topics (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    run_id bigint NOT NULL REFERENCES llm_runs (id) ON DELETE CASCADE,
    media_file_id bigint NOT NULL REFERENCES media_files (id) ON DELETE CASCADE,
    position integer NOT NULL CHECK (position >= 0),
    label text NOT NULL CHECK (length(label) BETWEEN 1 AND 100),
    description text CHECK (length(description) <= 2000),
    relevance real NOT NULL CHECK (relevance BETWEEN 0 AND 1),
    moments real[] NOT NULL DEFAULT '{}' CHECK (cardinality(moments) <= 50 AND 0 <= ALL (moments)),
    proposed_tag text CHECK (length(proposed_tag) BETWEEN 1 AND 100),
    proposed_collection text CHECK (length(proposed_collection) BETWEEN 1 AND 200),
    tag_decision text CHECK (tag_decision IN ('accepted', 'dismissed')),
    collection_decision text CHECK (collection_decision IN ('accepted', 'dismissed')),
    decided_by bigint REFERENCES users (id) ON DELETE SET NULL,
    decided_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (run_id, position)
);
-- The library's topic filter and search look a file's labels up without case.
CREATE INDEX file_topics_media_file_id_idx ON file_topics (media_file_id, lower(label));
CREATE INDEX file_topics_decided_by_idx ON file_topics (decided_by) WHERE decided_by IS NOT NULL;
-- Seen by whoever sees the file, as its runs are.
ALTER TABLE file_topics ENABLE ROW LEVEL SECURITY;
CREATE POLICY file_topics_of_file ON file_topics USING (media_file_id IN (SELECT unnest(rls_files())));

-- migration 0024_speaker_name_proposals: speaker names a language model proposed (see the migration) ------------------

CREATE TABLE speaker_name_proposals (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    run_id bigint NOT NULL REFERENCES llm_runs (id) ON DELETE CASCADE,
    speaker_id bigint NOT NULL REFERENCES speakers (id) ON DELETE CASCADE,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    confidence real NOT NULL CHECK (confidence BETWEEN 0 AND 1),
    evidence jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(evidence) = 'array'),
    status text NOT NULL DEFAULT 'proposed' CHECK (status IN ('proposed', 'accepted', 'rejected')),
    decided_by bigint REFERENCES users (id) ON DELETE SET NULL,
    decided_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'proposed') = (decided_at IS NULL))
);
CREATE INDEX speaker_name_proposals_run_id_idx ON speaker_name_proposals (run_id, speaker_id);
CREATE INDEX speaker_name_proposals_speaker_id_idx ON speaker_name_proposals (speaker_id);
CREATE INDEX speaker_name_proposals_decided_by_idx ON speaker_name_proposals (decided_by)
    WHERE decided_by IS NOT NULL;
-- Seen by whoever sees the speaker's file, as voice-matching suggestions are.
ALTER TABLE speaker_name_proposals ENABLE ROW LEVEL SECURITY;
CREATE POLICY speaker_name_proposals_of_file ON speaker_name_proposals USING (
    speaker_id IN (SELECT id FROM speakers));
-- migration 0025_translations: a transcript's segments translated by an LLM run (see the migration) -------------

CREATE TABLE translated_segments (
    run_id bigint NOT NULL REFERENCES llm_runs (id) ON DELETE CASCADE,
    segment_id bigint NOT NULL REFERENCES transcript_segments (id) ON DELETE CASCADE,
    text text NOT NULL,
    PRIMARY KEY (run_id, segment_id)
);
CREATE INDEX translated_segments_segment_id_idx ON translated_segments (segment_id);
ALTER TABLE translated_segments ENABLE ROW LEVEL SECURITY;
CREATE POLICY translated_segments_of_run ON translated_segments USING (run_id IN (SELECT id FROM llm_runs));
