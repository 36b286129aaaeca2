-- Step 18: asking one's recordings. A question about one file, a collection or everything the asker can see, the
-- answer the configured LLM gave from the retrieved passages, and the passages it cited (jsonb: per citation its
-- number in the answer, the file's uuid and title, the passage's times and its quoted text). A row is written
-- once, complete, when the answer has ended (repo/questions.py): a failed or abandoned question leaves nothing.
-- What is removed with what:
-- * the asker (users) → their questions: the history is personal;
-- * the file a question was about (scope 'file') → the question: its answer is nothing but that file's content, and
--   deleting a recording must take what was said about it with it, whoever asked (SPEC: no orphans);
-- * the collection a question was about (scope 'collection') → the reference is nulled, the question stays in the
--   asker's history: a collection only grouped the files; the answer is the asker's, deletable by them.
-- Citations of a file deleted since lead to "not found" (the stored quote stays with the asker who was shown it).
-- depends: 0015_passages

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
