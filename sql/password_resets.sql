-- Password resets by e-mail (repo/password_resets.py): the token is kept only as a hash, used once, expires.
-- Requested and used by someone not signed in: run as the system.

-- name: user_by_email :one?
SELECT id, uuid, email, full_name, is_active, role, created_at, updated_at, last_login_at
FROM users WHERE lower(email) = lower(%(email)s) AND is_active;

-- name: create :exec
INSERT INTO password_resets (user_id, token_hash, expires_at, address)
VALUES (%(user_id)s, %(token_hash)s, now() + make_interval(secs => %(ttl_seconds)s), %(address)s::inet);

-- name: forget_old :rowcount
-- A person's resets that can no longer be used, kept a day for what the trail does not say.
DELETE FROM password_resets
WHERE user_id = %(user_id)s AND coalesce(used_at, expires_at) < now() - interval '1 day';

-- name: find :one?
-- A reset by its token, whatever its state (the caller tells "used" from "expired" from "unknown").
SELECT r.id, r.user_id, r.expires_at, r.used_at, r.expires_at <= now() AS expired
FROM password_resets r WHERE r.token_hash = %(token_hash)s FOR UPDATE;

-- name: use :rowcount
UPDATE password_resets SET used_at = now() WHERE id = %(id)s AND used_at IS NULL AND expires_at > now();

-- name: drop_others :rowcount
-- The account's other open reset links end with the one used: a second mail must not reset it again.
UPDATE password_resets SET used_at = now() WHERE user_id = %(user_id)s AND used_at IS NULL;

-- name: set_password :rowcount
UPDATE users SET hashed_password = %(hashed_password)s, updated_at = now() WHERE id = %(user_id)s;
