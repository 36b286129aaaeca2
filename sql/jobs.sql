-- Job ownership and the outbox. A running job holds the session advisory lock of its task id on a dedicated
-- connection for its whole life (workers/liveness.py); PostgreSQL releases it the instant that session ends (process
-- killed; machine gone once TCP keepalive gives up), so "can I take the lock?" answers "is the owner dead?" with no
-- clock. The key is a 64-bit hash of the task id (a collision only makes recovery wait for the other job).
--
-- Lock order, for everything that touches a file and its task: the media_files row, then the file_summaries row,
-- then tasks, then notifications. Jobs and recovery both follow it, so they cannot deadlock.

-- name: try_lock :scalar
SELECT pg_try_advisory_lock(hashtextextended('opentr.job:' || %(task_id)s::text, 0));

-- name: unlock :scalar
SELECT pg_advisory_unlock(hashtextextended('opentr.job:' || %(task_id)s::text, 0));

-- name: dispatchable :many
-- Pending tasks whose subject still waits for them: a queued file that names this task, a pending summary, a
-- pending URL import.
SELECT t.id AS task_id, t.task_type, coalesce(m.id, s.id, u.id) AS subject_id
FROM tasks t
LEFT JOIN media_files m
       ON t.task_type = 'transcription' AND m.id = t.media_file_id AND m.status = 'queued' AND m.active_task_id = t.id
LEFT JOIN file_summaries s
       ON t.task_type = 'summarization' AND s.media_file_id = t.media_file_id AND s.status = 'pending'
      AND t.id = 'summary-' || s.uuid::text
LEFT JOIN url_imports u ON t.task_type = 'download' AND u.task_id = t.id AND u.status = 'pending'
WHERE t.status = 'pending' AND (m.id IS NOT NULL OR s.id IS NOT NULL OR u.id IS NOT NULL)
ORDER BY t.created_at, t.id
LIMIT %(limit)s;

-- name: claimed :many
-- Work that claims a live owner: tasks in progress, and files or summaries whose job is running or cancelling.
SELECT t.id AS task_id, t.task_type, t.media_file_id,
       (SELECT s.id FROM file_summaries s WHERE t.task_type = 'summarization'
          AND t.id = 'summary-' || s.uuid::text) AS summary_id
FROM tasks t
WHERE t.status = 'in_progress'
UNION
SELECT m.active_task_id, 'transcription', m.id, NULL::bigint
FROM media_files m
WHERE m.status IN ('processing', 'cancelling') AND m.active_task_id IS NOT NULL
ORDER BY 1
LIMIT %(limit)s;
