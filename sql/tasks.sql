-- Background tasks; id is the job id. Workers write them (no actor); users read their own (admins all).
-- Writes return the file's uuid through a subquery in RETURNING: a file may be gone (NULL) or never was.

-- name: create :one
INSERT INTO tasks (id, user_id, media_file_id, task_type)
VALUES (%(task_id)s, %(user_id)s, %(media_file_id)s, %(task_type)s)
RETURNING id, user_id, media_file_id, (SELECT m.uuid FROM media_files m WHERE m.id = tasks.media_file_id) AS file_uuid,
    task_type, status, progress, error_message, heartbeat_at, created_at, updated_at, completed_at;

-- name: start :one?
UPDATE tasks
SET status = 'in_progress', heartbeat_at = now()
WHERE id = %(task_id)s AND status = ANY(%(from_statuses)s::text[])
RETURNING id, user_id, media_file_id, (SELECT m.uuid FROM media_files m WHERE m.id = tasks.media_file_id) AS file_uuid,
    task_type, status, progress, error_message, heartbeat_at, created_at, updated_at, completed_at;

-- name: heartbeat :rowcount
UPDATE tasks
SET progress = %(progress)s::real, heartbeat_at = now()
WHERE id = %(task_id)s AND status = 'in_progress';

-- name: finish :one?
-- completed, failed or cancelled: the end of a task, from any open status.
UPDATE tasks
SET status = %(status)s::text, error_message = %(error_message)s::text, completed_at = now(),
    progress = CASE WHEN %(status)s::text = 'completed' THEN 1 ELSE progress END
WHERE id = %(task_id)s AND status = ANY(%(from_statuses)s::text[])
RETURNING id, user_id, media_file_id, (SELECT m.uuid FROM media_files m WHERE m.id = tasks.media_file_id) AS file_uuid,
    task_type, status, progress, error_message, heartbeat_at, created_at, updated_at, completed_at;

-- name: get :one
SELECT t.id, t.user_id, t.media_file_id, m.uuid AS file_uuid, t.task_type, t.status, t.progress, t.error_message,
    t.heartbeat_at, t.created_at, t.updated_at, t.completed_at
FROM tasks t LEFT JOIN media_files m ON m.id = t.media_file_id
WHERE t.id = %(task_id)s AND (t.user_id = %(actor_id)s OR %(actor_sees_all)s::boolean);

-- name: list_page :many
-- Newest first, keyset on (created_at, id); the caller asks for limit + 1 rows.
SELECT t.id, t.user_id, t.media_file_id, m.uuid AS file_uuid, t.task_type, t.status, t.progress, t.error_message,
    t.heartbeat_at, t.created_at, t.updated_at, t.completed_at
FROM tasks t LEFT JOIN media_files m ON m.id = t.media_file_id
WHERE (t.user_id = %(actor_id)s OR %(actor_sees_all)s::boolean)
  AND (%(status)s::text IS NULL OR t.status = %(status)s::text)
  AND (%(after_time)s::timestamptz IS NULL
       OR (t.created_at, t.id) < (%(after_time)s::timestamptz, %(after_id)s::text))
ORDER BY t.created_at DESC, t.id DESC
LIMIT %(limit)s;

-- name: acting_user :scalar
-- Whom a job of this task acts for (row-level security, workers/jobrun.py), read as the system: the owner of the
-- task's file when `file_owner` and the task has one, else the user the task was started for.
SELECT CASE WHEN %(file_owner)s::boolean THEN coalesce(f.user_id, t.user_id) ELSE t.user_id END
FROM tasks t LEFT JOIN media_files f ON f.id = t.media_file_id
WHERE t.id = %(task_id)s;
