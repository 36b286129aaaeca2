-- Step 21: a transcript translated into another language by the requester's LLM (a run of kind `translation` in
-- llm_runs, whose `language` is the target). One row per segment of the transcript the run translated: its text in
-- that language; the segment's times, speaker and original text stay the segment's own, so a translation exported
-- as subtitles keeps the original timings. A file may have several translations (one run each; the newest
-- completed per language is the current one); deleting a run deletes its translation, deleting a segment its
-- translated text.
-- depends: 0024_speaker_name_proposals

CREATE TABLE translated_segments (
    run_id bigint NOT NULL REFERENCES llm_runs (id) ON DELETE CASCADE,
    segment_id bigint NOT NULL REFERENCES transcript_segments (id) ON DELETE CASCADE,
    text text NOT NULL,
    PRIMARY KEY (run_id, segment_id)
);
CREATE INDEX translated_segments_segment_id_idx ON translated_segments (segment_id);
-- Seen by whoever sees its run (whoever sees the file).
ALTER TABLE translated_segments ENABLE ROW LEVEL SECURITY;
CREATE POLICY translated_segments_of_run ON translated_segments USING (run_id IN (SELECT id FROM llm_runs));
