-- name: create :exec
INSERT INTO auth_tokens (user_id, token_hash, expires_at)
VALUES (%(user_id)s, %(token_hash)s, now() + make_interval(secs => %(ttl_seconds)s));

-- name: authenticate :one?
-- The active user behind a live token; records use at most once a minute so reads stay reads.
WITH live AS (
    SELECT t.id AS token_id, t.last_used_at AS token_used_at, u.*
    FROM auth_tokens t JOIN users u ON u.id = t.user_id
    WHERE t.token_hash = %(token_hash)s AND t.revoked_at IS NULL AND t.expires_at > now() AND u.is_active
), touched AS (
    UPDATE auth_tokens SET last_used_at = now()
    FROM live
    WHERE auth_tokens.id = live.token_id
      AND (live.token_used_at IS NULL OR live.token_used_at < now() - interval '60 seconds')
)
SELECT id, uuid, email, full_name, is_active, role, created_at, updated_at, last_login_at FROM live;

-- name: authenticate_read :one?
-- The same check in a read-only transaction (on a read replica): last use is recorded by the user's next write.
SELECT u.id, u.uuid, u.email, u.full_name, u.is_active, u.role, u.created_at, u.updated_at, u.last_login_at
FROM auth_tokens t JOIN users u ON u.id = t.user_id
WHERE t.token_hash = %(token_hash)s AND t.revoked_at IS NULL AND t.expires_at > now() AND u.is_active;

-- name: revoke :rowcount
UPDATE auth_tokens SET revoked_at = now() WHERE token_hash = %(token_hash)s AND revoked_at IS NULL;

-- name: revoke_all :rowcount
UPDATE auth_tokens SET revoked_at = now() WHERE user_id = %(user_id)s AND revoked_at IS NULL;

-- name: purge_expired :rowcount
DELETE FROM auth_tokens WHERE expires_at < now() - interval '7 days';
