-- Step 21: speaker names proposed by a language model from what is said ("Thanks, Maria" → SPEAKER_01 may be
-- Maria): rows of a `speaker_names` run (llm_runs), each with the name, a confidence and its evidence (the quotes
-- of the transcript it rests on: [{segment_uuid, start_time, quote}], each quote checked to occur in that segment
-- before it was stored). A proposal is never applied by itself: a person accepts it (the speaker takes the name)
-- or rejects it, and who decided and when is kept.
-- depends: 0023_topics

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
