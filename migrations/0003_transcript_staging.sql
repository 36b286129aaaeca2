-- Step 9: transcripts produced by a speech engine are staged while the engine runs, in short transactions keyed by
-- the job's task, and become the file's transcript in one short transaction at the end. No transaction stays open
-- and no row of the file stays locked for the length of a transcription; a job that dies leaves only staged rows
-- of its own task, which nobody reads and the next run of the file deletes.
-- The engine's detected language probability is stored beside `language`.
-- depends: 0002_segments_by_file_index

ALTER TABLE media_files ADD COLUMN language_probability real CHECK (language_probability BETWEEN 0 AND 1);

CREATE TABLE transcript_staging (
    task_id text NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    seq integer NOT NULL CHECK (seq >= 0),
    start_time double precision NOT NULL CHECK (start_time >= 0),
    end_time double precision NOT NULL,
    text text NOT NULL,
    speaker_label text CHECK (length(speaker_label) BETWEEN 1 AND 100),
    words jsonb,
    PRIMARY KEY (task_id, seq),
    CHECK (end_time >= start_time)
);
