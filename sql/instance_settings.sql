-- What an administrator sets for the whole instance (repo/instance_settings.py): a key, a JSON value, who, when.

-- name: get :one?
SELECT key, value, updated_at, updated_by FROM instance_settings WHERE key = %(key)s;

-- name: all :many
SELECT key, value, updated_at, updated_by FROM instance_settings ORDER BY key;

-- name: put :exec
INSERT INTO instance_settings (key, value, updated_at, updated_by)
VALUES (%(key)s, %(value)s, now(), %(updated_by)s)
ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now(), updated_by = EXCLUDED.updated_by;
