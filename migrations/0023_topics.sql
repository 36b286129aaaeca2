-- Step 21: the topics a language model found in a file's transcript (a `topics` run of llm_runs, its children):
-- each with a short description, how central it is (relevance 0..1), the moments it is discussed (seconds into
-- the recording), and a tag and a collection it proposes. A proposal is applied only when someone accepts it
-- (tag_decision / collection_decision: NULL while proposed, then 'accepted' or 'dismissed'), never by the run.
-- A file shows, and is found by, the topics of its newest completed topics run: storing a run's topics replaces
-- the file's earlier ones (what was accepted from them stays the file's), so a file's rows here are its topics.
-- depends: 0022_summary_shapes

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
