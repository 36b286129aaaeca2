-- Step 18: search by meaning. A file's transcript is cut into passages (a few consecutive segments), each embedded
-- by a local sentence-embedding model (embeddings/). Vectors are stored as real[] so that the table is the same on
-- every server; where the pgvector extension is available it is created here with a generated `vector` copy of
-- each (below), and an HNSW index over `embedding_vector::vector(N)` (one per dimension N, partial on that
-- dimension) is created by the application once it knows its model's dimension (repo/passages.py). Without pgvector, search by words works and search by meaning is
-- off (README: Search by meaning).
-- `model` names the model that made the vector and `transcript_version` the transcript it was cut from: a file whose
-- passages are of another model or an older version is embedded again.
-- depends: 0014_row_security

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
