-- name: get :one?
SELECT key, value FROM user_settings WHERE user_id = %(actor_id)s AND key = %(key)s;

-- name: list_for_user :many
SELECT key, value FROM user_settings WHERE user_id = %(actor_id)s ORDER BY key;

-- name: upsert :one
INSERT INTO user_settings (user_id, key, value)
VALUES (%(actor_id)s, %(key)s, %(value)s)
ON CONFLICT (user_id, key) DO UPDATE SET value = EXCLUDED.value
RETURNING key, value;

-- name: delete :rowcount
DELETE FROM user_settings WHERE user_id = %(actor_id)s AND key = %(key)s;
