-- Media imported from a URL: one row per request, driven by its `download` task (workers/url_import.py).
-- Users read their own (admins all); workers act for the system and move a row along guarded by its status.

-- fragment: columns
u.id, u.uuid, u.user_id, u.task_id, u.url, u.status, u.bytes_received, u.bytes_total, t.progress,
(SELECT m.uuid FROM media_files m WHERE m.id = u.media_file_id) AS file_uuid, u.error_message, u.created_at,
u.updated_at

-- name: create :one
WITH created AS (
    INSERT INTO url_imports (user_id, task_id, url)
    VALUES (%(user_id)s, %(task_id)s, %(url)s)
    RETURNING *
)
SELECT {{columns}}
FROM created u JOIN tasks t ON t.id = u.task_id;

-- name: get :one
SELECT {{columns}}
FROM url_imports u JOIN tasks t ON t.id = u.task_id
WHERE u.uuid = %(uuid)s AND (u.user_id = %(actor_id)s OR %(actor_sees_all)s::boolean);

-- name: start :one?
-- pending → downloading for this job; no row when the import is gone or another job has it.
WITH started AS (
    UPDATE url_imports SET status = 'downloading'
    WHERE id = %(id)s AND task_id = %(task_id)s AND status = 'pending'
    RETURNING *
)
SELECT {{columns}}
FROM started u JOIN tasks t ON t.id = u.task_id;

-- name: progress :rowcount
UPDATE url_imports SET bytes_received = %(bytes_received)s, bytes_total = %(bytes_total)s
WHERE id = %(id)s AND status = 'downloading';

-- name: complete :rowcount
UPDATE url_imports SET status = 'completed', media_file_id = %(media_file_id)s, error_message = NULL
WHERE id = %(id)s AND status = 'downloading';

-- name: fail :rowcount
UPDATE url_imports SET status = 'failed', error_message = %(error_message)s
WHERE id = %(id)s AND status IN ('pending', 'downloading');

-- name: jobs_waiting :many
-- A URL import as the subject of a kind of job (repo/jobs.py).
SELECT t.id AS task_id, u.id AS subject_id
FROM tasks t
JOIN url_imports u ON u.task_id = t.id
WHERE t.task_type = %(task_type)s AND t.status = 'pending' AND u.status = 'pending'
ORDER BY t.created_at, t.id
LIMIT %(limit)s;

-- name: jobs_claimed :many
SELECT t.id AS task_id, u.id AS subject_id
FROM tasks t
LEFT JOIN url_imports u ON u.task_id = t.id
WHERE t.task_type = %(task_type)s AND t.status = 'in_progress'
ORDER BY t.id
LIMIT %(limit)s;
