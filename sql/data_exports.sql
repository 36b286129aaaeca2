-- A person's requests to download everything of theirs (migration 0020, repo/data_exports.py). Each request moves
-- pending → processing → ready | failed, and ready → expired once `opentr cleanup` has removed its archive.

-- name: create :one
INSERT INTO data_exports (user_id) VALUES (%(user_id)s)
RETURNING id, uuid, user_id, status, progress, storage_key, size, files, error, created_at, started_at, ready_at,
          expires_at;

-- name: busy :one?
-- The request still being built, if any: one at a time per person (a second would only build the same archive).
SELECT id, uuid, user_id, status, progress, storage_key, size, files, error, created_at, started_at, ready_at,
       expires_at
FROM data_exports
WHERE user_id = %(user_id)s AND status IN ('pending', 'processing')
ORDER BY id DESC
LIMIT 1;

-- name: start :one?
UPDATE data_exports SET status = 'processing', started_at = now(), progress = 0, error = NULL
WHERE id = %(id)s AND status = 'pending'
RETURNING id, uuid, user_id, status, progress, storage_key, size, files, error, created_at, started_at, ready_at,
          expires_at;

-- name: progress :rowcount
UPDATE data_exports SET progress = %(progress)s WHERE id = %(id)s AND status = 'processing';

-- name: complete :one?
-- The archive is stored: downloadable for `valid_seconds` from now.
UPDATE data_exports
SET status = 'ready', progress = 1, storage_key = %(storage_key)s, size = %(size)s, files = %(files)s,
    ready_at = now(), expires_at = now() + make_interval(secs => %(valid_seconds)s)
WHERE id = %(id)s AND status = 'processing'
RETURNING id, uuid, user_id, status, progress, storage_key, size, files, error, created_at, started_at, ready_at,
          expires_at;

-- name: fail :one?
UPDATE data_exports SET status = 'failed', error = left(%(error)s, 2000)
WHERE id = %(id)s AND status IN ('pending', 'processing')
RETURNING id, uuid, user_id, status, progress, storage_key, size, files, error, created_at, started_at, ready_at,
          expires_at;

-- name: list_for_user :many
SELECT id, uuid, user_id, status, progress, storage_key, size, files, error, created_at, started_at, ready_at,
       expires_at
FROM data_exports
WHERE user_id = %(actor_id)s
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s;

-- name: get :one?
-- By uuid, for its owner only: another person's export is not found (404), whoever asks.
SELECT id, uuid, user_id, status, progress, storage_key, size, files, error, created_at, started_at, ready_at,
       expires_at
FROM data_exports
WHERE uuid = %(uuid)s AND user_id = %(actor_id)s;

-- name: get_by_id :one?
SELECT id, uuid, user_id, status, progress, storage_key, size, files, error, created_at, started_at, ready_at,
       expires_at
FROM data_exports
WHERE id = %(id)s;

-- name: expired :many
-- For `opentr cleanup` (as the system): archives past their link's expiry, still in storage.
SELECT id, uuid, user_id, status, progress, storage_key, size, files, error, created_at, started_at, ready_at,
       expires_at
FROM data_exports
WHERE status = 'ready' AND expires_at <= now()
ORDER BY expires_at, id;

-- name: mark_expired :rowcount
-- Its archive removed from storage: the row stays, so an old link still answers that it expired (410).
UPDATE data_exports SET status = 'expired', storage_key = NULL
WHERE id = ANY(%(ids)s::bigint[]) AND status = 'ready';

-- name: stored_keys :many
-- For `opentr cleanup`: the archives in storage belong to a row, they are not stray files.
SELECT storage_key FROM data_exports WHERE storage_key IS NOT NULL ORDER BY id;

-- name: jobs_waiting :many
-- An export as the subject of a kind of job (repo/jobs.py): its task is `data_export-<uuid>` (task_id_for).
SELECT t.id AS task_id, e.id AS subject_id
FROM tasks t
JOIN data_exports e ON t.id = 'data_export-' || e.uuid::text
WHERE t.task_type = %(task_type)s AND t.status = 'pending' AND e.status = 'pending'
ORDER BY t.created_at, t.id
LIMIT %(limit)s;

-- name: jobs_claimed :many
SELECT t.id AS task_id, e.id AS subject_id
FROM tasks t
LEFT JOIN data_exports e ON t.id = 'data_export-' || e.uuid::text
WHERE t.task_type = %(task_type)s AND t.status = 'in_progress'
ORDER BY t.id
LIMIT %(limit)s;
