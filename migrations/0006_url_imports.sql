-- Step 12: media imported from a URL, and what was brought over from another platform.
-- A URL import is a `download` task (the outbox dispatches it like any job) and a `url_imports` row saying where
-- the media comes from and how far the download got; the media file exists only once the bytes are stored, so a
-- failed download leaves no half file in the library.
-- `import_origins` remembers, for each row copied from another platform (`opentr import opentranscribe`), which
-- source row it came from: a second run skips what it already copied, so the import is idempotent.
-- depends: 0005_segment_words

ALTER TABLE tasks DROP CONSTRAINT tasks_task_type_check;
ALTER TABLE tasks ADD CONSTRAINT tasks_task_type_check
    CHECK (task_type IN ('transcription', 'summarization', 'analytics', 'maintenance', 'download'));

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
    target_id bigint NOT NULL,
    imported_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, source_table, source_key)
);
