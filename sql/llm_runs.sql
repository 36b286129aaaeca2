-- Runs of an LLM over one file's transcript (migration 0021, repo/llm_runs.py): topics, speaker names, a
-- translation. Each moves pending → processing → completed | failed | cancelled by guarded UPDATEs; a transition
-- from the wrong state changes nothing (the repository says Conflict).

-- name: create :one?
-- No row: the configuration is not the requester's own (an admin's power does not reach another's keys).
INSERT INTO llm_runs (kind, media_file_id, user_id, llm_configuration_id, provider, model_name, language, options)
SELECT %(kind)s, %(file_id)s, %(actor_id)s, c.id, c.provider, c.model_name, %(language)s, %(options)s
FROM user_llm_configurations c
WHERE c.id = %(llm_configuration_id)s AND c.user_id = %(actor_id)s
RETURNING id, uuid, kind, media_file_id, user_id, llm_configuration_id, provider, model_name, language, options,
          status, cancel_requested, progress, transcript_version, requests, input_tokens, output_tokens,
          error_message, raw_response, created_at, started_at, completed_at;

-- name: start :one?
-- The transcript version read is recorded with the start: a later edit makes a translation stale.
UPDATE llm_runs r
SET status = 'processing', started_at = now(), progress = 0,
    transcript_version = (SELECT v.version FROM transcript_versions v WHERE v.media_file_id = r.media_file_id)
WHERE r.id = %(id)s AND r.status = 'pending' AND NOT r.cancel_requested
RETURNING {{llm_run_columns}};

-- name: progress :one?
-- Progress, and whether its requester asked to stop: the job checks at every step. No row: the run is not
-- processing any more (deleted with its file, or ended by recovery).
UPDATE llm_runs r SET progress = greatest(r.progress, %(progress)s)
WHERE r.id = %(id)s AND r.status = 'processing'
RETURNING r.cancel_requested;

-- name: count_request :rowcount
-- One answered request of the run, added to its totals (the same figures as its llm_usage row).
UPDATE llm_runs SET requests = requests + 1, input_tokens = input_tokens + %(input_tokens)s,
                    output_tokens = output_tokens + %(output_tokens)s
WHERE id = %(id)s;

-- name: complete :one?
UPDATE llm_runs r
SET status = 'completed', progress = 1, completed_at = now(), error_message = NULL,
    raw_response = %(raw_response)s
WHERE r.id = %(id)s AND r.status = 'processing'
RETURNING {{llm_run_columns}};

-- name: fail :one?
UPDATE llm_runs r
SET status = 'failed', completed_at = now(), error_message = left(%(error_message)s, 4000),
    raw_response = coalesce(%(raw_response)s::text, r.raw_response)
WHERE r.id = %(id)s AND r.status IN ('pending', 'processing')
RETURNING {{llm_run_columns}};

-- name: cancelled :one?
-- The job stopped at its requester's wish (or it never started).
UPDATE llm_runs r SET status = 'cancelled', completed_at = now()
WHERE r.id = %(id)s AND r.status IN ('pending', 'processing')
RETURNING {{llm_run_columns}};

-- name: request_cancel :one?
-- A pending run ends cancelled at once (its job will find nothing to do); a processing one is asked to stop, which
-- its job does at its next check (within a second even in the middle of a request). Editors of the file and the
-- requester may cancel.
WITH target AS (
    SELECT r.id, r.status FROM llm_runs r
    JOIN media_files f ON f.id = r.media_file_id
    WHERE r.uuid = %(uuid)s AND (r.user_id = %(actor_id)s OR {{file_editable}})
    FOR UPDATE OF r
)
UPDATE llm_runs r
SET cancel_requested = true,
    status = CASE WHEN target.status = 'pending' THEN 'cancelled' ELSE r.status END,
    completed_at = CASE WHEN target.status = 'pending' THEN now() ELSE r.completed_at END
FROM target
WHERE r.id = target.id AND target.status IN ('pending', 'processing')
RETURNING {{llm_run_columns}};

-- name: get :one?
SELECT {{llm_run_columns}}
FROM llm_runs r
JOIN media_files f ON f.id = r.media_file_id
WHERE r.uuid = %(uuid)s AND {{file_readable}};

-- name: get_by_id :one?
SELECT {{llm_run_columns}} FROM llm_runs r WHERE r.id = %(id)s;

-- name: list_for_file :many
-- Newest first; `kind` NULL lists every kind.
SELECT {{llm_run_columns}}
FROM llm_runs r
JOIN media_files f ON f.id = r.media_file_id
WHERE f.uuid = %(file_uuid)s AND {{file_readable}}
  AND (%(kind)s::text IS NULL OR r.kind = %(kind)s::text)
ORDER BY r.created_at DESC, r.id DESC
LIMIT %(limit)s;

-- name: delete :one?
-- A finished run goes with what it produced (its results are its children); a busy one stays: its job writes.
WITH target AS (
    SELECT r.id, r.status FROM llm_runs r
    JOIN media_files f ON f.id = r.media_file_id
    WHERE r.uuid = %(uuid)s AND (r.user_id = %(actor_id)s OR {{file_editable}})
    FOR UPDATE OF r
), deleted AS (
    DELETE FROM llm_runs r USING target
    WHERE r.id = target.id AND target.status NOT IN ('pending', 'processing')
    RETURNING r.id
)
SELECT target.status, EXISTS (SELECT 1 FROM deleted) AS deleted FROM target;

-- name: current_transcript_version :scalar
SELECT coalesce((SELECT v.version FROM transcript_versions v WHERE v.media_file_id = %(file_id)s), 0)::bigint;

-- name: jobs_waiting :many
-- A run as the subject of its kind's jobs (repo/jobs.py): its task is `<kind>-<uuid>` (task_id_for).
SELECT t.id AS task_id, r.id AS subject_id
FROM tasks t
JOIN llm_runs r ON t.id = t.task_type || '-' || r.uuid::text
WHERE t.task_type = %(task_type)s AND t.status = 'pending' AND r.status = 'pending'
ORDER BY t.created_at, t.id
LIMIT %(limit)s;

-- name: jobs_claimed :many
SELECT t.id AS task_id, r.id AS subject_id
FROM tasks t
LEFT JOIN llm_runs r ON t.id = t.task_type || '-' || r.uuid::text
WHERE t.task_type = %(task_type)s AND t.status = 'in_progress'
ORDER BY t.id
LIMIT %(limit)s;
