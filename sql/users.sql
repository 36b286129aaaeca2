-- name: create :one
INSERT INTO users (email, hashed_password, full_name, role)
VALUES (%(email)s, %(hashed_password)s, %(full_name)s, %(role)s)
RETURNING id, uuid, email, full_name, is_active, role, created_at, updated_at, last_login_at;

-- name: get_by_uuid :one
-- A user sees only themself; an admin sees everyone.
SELECT id, uuid, email, full_name, is_active, role, created_at, updated_at, last_login_at
FROM users
WHERE uuid = %(uuid)s AND (id = %(actor_id)s OR %(actor_is_admin)s::boolean);

-- name: get_by_id :one
SELECT id, uuid, email, full_name, is_active, role, created_at, updated_at, last_login_at
FROM users WHERE id = %(id)s;

-- name: credentials_by_email :one?
SELECT id, hashed_password, is_active FROM users WHERE lower(email) = lower(%(email)s);

-- name: credentials_by_id :one
SELECT id, hashed_password, is_active FROM users WHERE id = %(id)s;

-- name: admin_update :one
-- An administrator changes another account: absent (NULL) fields stay as they are.
UPDATE users
SET role = coalesce(%(role)s::text, role),
    is_active = coalesce(%(is_active)s::boolean, is_active),
    full_name = coalesce(%(full_name)s::text, full_name),
    hashed_password = coalesce(%(hashed_password)s::text, hashed_password)
WHERE uuid = %(uuid)s AND %(actor_is_admin)s::boolean
RETURNING id, uuid, email, full_name, is_active, role, created_at, updated_at, last_login_at;

-- name: update_profile :one
UPDATE users
SET full_name = coalesce(%(full_name)s::text, full_name),
    email = coalesce(%(email)s::text, email),
    hashed_password = coalesce(%(hashed_password)s::text, hashed_password)
WHERE id = %(actor_id)s
RETURNING id, uuid, email, full_name, is_active, role, created_at, updated_at, last_login_at;

-- name: touch_login :exec
UPDATE users SET last_login_at = now() WHERE id = %(id)s;

-- name: list_all :many
SELECT id, uuid, email, full_name, is_active, role, created_at, updated_at, last_login_at
FROM users
WHERE %(actor_is_admin)s::boolean
  AND (%(after_id)s::bigint IS NULL OR id > %(after_id)s::bigint)
ORDER BY id
LIMIT %(limit)s;

-- name: delete :rowcount
-- One statement: every row the user owns goes with it through ON DELETE CASCADE.
DELETE FROM users WHERE uuid = %(uuid)s AND %(actor_is_admin)s::boolean;

-- name: stats :one
SELECT (SELECT count(*) FROM users) AS users,
       (SELECT count(*) FROM media_files) AS files,
       (SELECT count(*) FROM media_files WHERE status = 'processing') AS processing,
       (SELECT count(*) FROM transcript_segments) AS segments,
       (SELECT coalesce(sum(file_size), 0)::bigint FROM media_files) AS storage_bytes,
       (SELECT coalesce(sum(duration), 0)::float8 FROM media_files) AS total_duration;
