-- A file's processing choices (transcript/choices.py), kept for its re-runs; no row: its owner's defaults at the
-- time it was processed (files from before Step 16, URL imports).

-- name: store :exec
-- The choices for the file's next run; a whole-pipeline run (stage NULL) or the one stage to redo.
INSERT INTO processing_choices (
    media_file_id, model, language, task, vocabulary, diarization, summary, summary_prompt_id, rerun_stage)
VALUES (
    %(file_id)s, %(model)s, %(language)s, %(task)s, %(vocabulary)s, %(diarization)s, %(summary)s,
    %(summary_prompt_id)s, %(stage)s)
ON CONFLICT (media_file_id) DO UPDATE
SET model = EXCLUDED.model, language = EXCLUDED.language, task = EXCLUDED.task, vocabulary = EXCLUDED.vocabulary,
    diarization = EXCLUDED.diarization, summary = EXCLUDED.summary, summary_prompt_id = EXCLUDED.summary_prompt_id,
    rerun_stage = EXCLUDED.rerun_stage;

-- name: for_job :one?
-- Workers only: the choices of the file they process.
SELECT model, language, task, vocabulary, diarization, summary, summary_prompt_id, rerun_stage
FROM processing_choices WHERE media_file_id = %(file_id)s;

-- name: for_file :one?
-- The choices of a file the actor may read, with the uuid of the chosen prompt (what the API shows).
SELECT pc.model, pc.language, pc.task, pc.vocabulary, pc.diarization, pc.summary, pc.summary_prompt_id,
       pc.rerun_stage, p.uuid AS summary_prompt_uuid
FROM media_files f
JOIN processing_choices pc ON pc.media_file_id = f.id
LEFT JOIN summary_prompts p ON p.id = pc.summary_prompt_id
WHERE f.uuid = %(uuid)s AND {{file_readable}};

-- name: finish_stage :exec
-- The job that redid one stage completed: the file's next run is a whole one again.
UPDATE processing_choices SET rerun_stage = NULL WHERE media_file_id = %(file_id)s AND rerun_stage IS NOT NULL;

-- name: stage_inputs :one
-- What a re-run of one stage starts from: the file's transcript, and its speakers' stored voices.
SELECT (SELECT count(*) FROM transcript_segments WHERE media_file_id = %(file_id)s) AS segments,
       (SELECT count(*) FROM speakers WHERE media_file_id = %(file_id)s AND embedding IS NOT NULL) AS voices;
