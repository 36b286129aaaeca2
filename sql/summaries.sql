-- The columns of a summary (repo/summaries.py's Summary), from a row aliased `s`.

-- fragment: summary_columns
s.id, s.uuid, s.media_file_id, s.user_id, s.prompt_id, s.llm_configuration_id, s.provider, s.model_name,
s.version, s.status, s.output_format, s.language, s.bluf, s.brief_summary, s.major_topics, s.action_items,
s.key_decisions, s.follow_up_items, s.content, s.markdown, s.raw_response, s.error_message, s.input_tokens,
s.output_tokens, s.processing_ms, s.cancel_requested, s.started_at, s.completed_at, s.created_at, s.updated_at

-- name: lock_file :one?
-- Serialises summary creation per file: the version is computed only after this lock is held. Summarising is
-- (re-)running processing: editors and owners.
SELECT f.id, f.user_id FROM media_files f
WHERE f.id = %(file_id)s AND {{file_editable}}
FOR NO KEY UPDATE;

-- name: create_pending :one?
-- No row when the prompt or the configuration is not one the acting user may use: a system prompt or their own,
-- their own LLM configuration (personal: an admin's power does not reach them).
WITH created AS (
    INSERT INTO file_summaries (media_file_id, user_id, prompt_id, llm_configuration_id, provider, model_name,
                                output_format, language, version)
    SELECT %(file_id)s, %(actor_id)s, %(prompt_id)s, %(llm_configuration_id)s, %(provider)s, %(model_name)s,
           %(output_format)s, %(language)s,
           coalesce((SELECT max(version) FROM file_summaries WHERE media_file_id = %(file_id)s), 0) + 1
    WHERE (%(prompt_id)s::bigint IS NULL OR EXISTS (
              SELECT 1 FROM summary_prompts p WHERE p.id = %(prompt_id)s::bigint
                AND (p.user_id IS NULL OR p.user_id = %(actor_id)s)))
      AND (%(llm_configuration_id)s::bigint IS NULL OR EXISTS (
              SELECT 1 FROM user_llm_configurations c WHERE c.id = %(llm_configuration_id)s::bigint
                AND c.user_id = %(actor_id)s))
    RETURNING *
), file AS (
    UPDATE media_files m SET summary_status = 'pending' FROM created WHERE m.id = created.media_file_id
)
SELECT {{summary_columns}}
FROM created s;

-- name: start :one?
-- Guarded: only a pending summary starts. The file's summary_status follows its newest version only.
WITH changed AS (
    UPDATE file_summaries SET status = 'processing', started_at = now()
    WHERE id = %(summary_id)s AND status = ANY(%(from_statuses)s::text[])
    RETURNING *
), file AS (
    UPDATE media_files m SET summary_status = changed.status FROM changed
    WHERE m.id = changed.media_file_id
      AND changed.version = (SELECT max(version) FROM file_summaries f WHERE f.media_file_id = changed.media_file_id)
)
SELECT {{summary_columns}}
FROM changed s;

-- name: complete :one?
WITH changed AS (
    UPDATE file_summaries
    SET status = 'completed', completed_at = now(), error_message = NULL,
        bluf = %(bluf)s, brief_summary = %(brief_summary)s, major_topics = %(major_topics)s,
        action_items = %(action_items)s, key_decisions = %(key_decisions)s, follow_up_items = %(follow_up_items)s,
        content = %(content)s, markdown = %(markdown)s,
        raw_response = %(raw_response)s, input_tokens = %(input_tokens)s, output_tokens = %(output_tokens)s,
        processing_ms = %(processing_ms)s
    WHERE id = %(summary_id)s AND status = ANY(%(from_statuses)s::text[]) AND NOT cancel_requested
    RETURNING *
), file AS (
    UPDATE media_files m SET summary_status = changed.status FROM changed
    WHERE m.id = changed.media_file_id
      AND changed.version = (SELECT max(version) FROM file_summaries f WHERE f.media_file_id = changed.media_file_id)
)
SELECT {{summary_columns}}
FROM changed s;

-- name: fail :one?
WITH changed AS (
    UPDATE file_summaries
    SET status = 'failed', completed_at = now(), error_message = %(error_message)s,
        raw_response = coalesce(%(raw_response)s::text, raw_response)
    WHERE id = %(summary_id)s AND status = ANY(%(from_statuses)s::text[])
    RETURNING *
), file AS (
    UPDATE media_files m SET summary_status = changed.status FROM changed
    WHERE m.id = changed.media_file_id
      AND changed.version = (SELECT max(version) FROM file_summaries f WHERE f.media_file_id = changed.media_file_id)
)
SELECT {{summary_columns}}
FROM changed s;

-- name: cancelled :one?
-- The job stopped at its requester's wish: nothing of its answer is kept.
WITH changed AS (
    UPDATE file_summaries SET status = 'cancelled', completed_at = now()
    WHERE id = %(summary_id)s AND status IN ('pending', 'processing')
    RETURNING *
), file AS (
    UPDATE media_files m SET summary_status = changed.status FROM changed
    WHERE m.id = changed.media_file_id
      AND changed.version = (SELECT max(version) FROM file_summaries f WHERE f.media_file_id = changed.media_file_id)
)
SELECT {{summary_columns}}
FROM changed s;

-- name: request_cancel :one?
-- A pending summary ends cancelled at once (its job will find nothing to do); a processing one is asked to stop,
-- which its job does within a second, in the middle of a request too. Editors of the file may cancel.
WITH target AS (
    SELECT s.id, s.status FROM file_summaries s
    JOIN media_files f ON f.id = s.media_file_id
    WHERE s.uuid = %(uuid)s AND {{file_editable}}
    FOR UPDATE OF s
), changed AS (
    UPDATE file_summaries s
    SET cancel_requested = true,
        status = CASE WHEN target.status = 'pending' THEN 'cancelled' ELSE s.status END,
        completed_at = CASE WHEN target.status = 'pending' THEN now() ELSE s.completed_at END
    FROM target
    WHERE s.id = target.id AND target.status IN ('pending', 'processing')
    RETURNING s.*
), file AS (
    UPDATE media_files m SET summary_status = changed.status FROM changed
    WHERE m.id = changed.media_file_id AND changed.status = 'cancelled'
      AND changed.version = (SELECT max(version) FROM file_summaries f WHERE f.media_file_id = changed.media_file_id)
)
SELECT {{summary_columns}}
FROM changed s;

-- name: stop_requested :one?
-- What the job asks between and during its requests: stop when cancelled, or when it no longer runs.
SELECT cancel_requested OR status <> 'processing' AS stop FROM file_summaries WHERE id = %(summary_id)s;

-- name: file_visible :one?
SELECT f.id FROM media_files f
WHERE f.uuid = %(file_uuid)s AND {{file_readable}};

-- name: list_for_file :many
SELECT {{summary_columns}}
FROM file_summaries s
JOIN media_files f ON f.id = s.media_file_id
WHERE f.uuid = %(file_uuid)s AND {{file_readable}}
ORDER BY s.version DESC
LIMIT %(limit)s;

-- name: get :one?
SELECT {{summary_columns}}
FROM file_summaries s
JOIN media_files f ON f.id = s.media_file_id
WHERE s.uuid = %(uuid)s AND {{file_readable}};

-- name: get_by_id :one?
-- For the worker, which re-reads by id inside its own transaction.
SELECT {{summary_columns}}
FROM file_summaries s WHERE s.id = %(summary_id)s;

-- name: delete :one?
-- A finished version (completed or failed) goes; a pending or processing one stays, its job still writes to it.
-- The file's summary_status then follows its newest remaining version (none: NULL). The subquery reads the
-- statement's snapshot, in which the deleted row is still there: hence `other.id <> target.id`.
WITH target AS (
    SELECT s.id, s.media_file_id, s.status
    FROM file_summaries s
    JOIN media_files f ON f.id = s.media_file_id
    WHERE s.uuid = %(uuid)s AND {{file_editable}}
    FOR UPDATE OF s
), deleted AS (
    DELETE FROM file_summaries s
    USING target
    WHERE s.id = target.id AND target.status <> ALL(%(busy)s::text[])
    RETURNING s.id, s.media_file_id
), file AS (
    UPDATE media_files m
    SET summary_status = (
        SELECT other.status FROM file_summaries other
        WHERE other.media_file_id = m.id AND other.id <> deleted.id
        ORDER BY other.version DESC
        LIMIT 1)
    FROM deleted
    WHERE m.id = deleted.media_file_id
)
SELECT target.status, EXISTS (SELECT 1 FROM deleted) AS deleted FROM target;

-- name: jobs_waiting :many
-- A summary as the subject of a kind of job (repo/jobs.py): its task is `summary-<uuid>` (task_id_for).
SELECT t.id AS task_id, s.id AS subject_id
FROM tasks t
JOIN file_summaries s ON t.id = 'summary-' || s.uuid::text
WHERE t.task_type = %(task_type)s AND t.status = 'pending' AND s.status = 'pending'
ORDER BY t.created_at, t.id
LIMIT %(limit)s;

-- name: jobs_claimed :many
SELECT t.id AS task_id, s.id AS subject_id
FROM tasks t
LEFT JOIN file_summaries s ON t.id = 'summary-' || s.uuid::text
WHERE t.task_type = %(task_type)s AND t.status = 'in_progress'
ORDER BY t.id
LIMIT %(limit)s;
