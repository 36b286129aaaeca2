-- name: create :exec
INSERT INTO auth_tokens (user_id, token_hash, expires_at, kind, method, user_agent, address)
VALUES (%(user_id)s, %(token_hash)s, now() + make_interval(secs => %(ttl_seconds)s), %(kind)s, %(method)s,
        %(user_agent)s, %(address)s::inet);

-- name: authenticate :one?
-- The active user behind a live token, and whether its use is due to be recorded (at most once a minute). A pure
-- read: the request's transaction must hold no lock on the token, or every request sharing it queues behind it.
SELECT u.id, u.uuid, u.email, u.full_name, u.is_active, u.role, u.created_at, u.updated_at, u.last_login_at,
       (t.last_used_at IS NULL OR t.last_used_at < now() - interval '60 seconds') AS touch_due
FROM auth_tokens t JOIN users u ON u.id = t.user_id
WHERE t.token_hash = %(token_hash)s AND t.revoked_at IS NULL AND t.expires_at > now() AND u.is_active;

-- name: touch :rowcount
-- Record a token's use in a statement of its own; a row another request is touching right now is skipped.
UPDATE auth_tokens SET last_used_at = now()
WHERE id = (
    SELECT id FROM auth_tokens
    WHERE token_hash = %(token_hash)s AND (last_used_at IS NULL OR last_used_at < now() - interval '60 seconds')
    FOR UPDATE SKIP LOCKED
);

-- name: revoke :rowcount
UPDATE auth_tokens SET revoked_at = now() WHERE token_hash = %(token_hash)s AND revoked_at IS NULL;

-- name: revoke_all :rowcount
-- Every live token of the user but `keep_hash` (NULL: every one): after an administrator's reset or deactivation,
-- and after a password change, where the session that made it stays signed in.
UPDATE auth_tokens SET revoked_at = now()
WHERE user_id = %(user_id)s AND revoked_at IS NULL AND token_hash IS DISTINCT FROM %(keep_hash)s::bytea;

-- fragment: long_expired
-- A token that expired more than a week ago: it signs nobody in any more (see authenticate), and the week keeps an
-- account's recent sessions (created, last used, revoked) to look at when someone asks what happened to it.
expires_at < now() - interval '7 days'

-- name: count_long_expired :scalar
-- What `opentr cleanup` would delete.
SELECT count(*) FROM auth_tokens WHERE {{long_expired}};

-- name: purge_long_expired :rowcount
-- `opentr cleanup --yes`: without it, every sign-in leaves a row behind for good.
DELETE FROM auth_tokens WHERE {{long_expired}};

-- name: sessions :many
-- Step 19: a person's live sessions and API tokens, newest first; `current`: the one this request came with.
SELECT uuid, kind, method, user_agent, host(address) AS address, created_at, last_used_at, expires_at,
       token_hash = %(current_hash)s::bytea AS current
FROM auth_tokens
WHERE user_id = %(user_id)s AND revoked_at IS NULL AND expires_at > now()
ORDER BY created_at DESC, id DESC;

-- name: end_session :one?
-- End one of the person's live sessions by its uuid; what it was (for the audit trail), or nothing.
UPDATE auth_tokens SET revoked_at = now()
WHERE uuid = %(uuid)s AND user_id = %(user_id)s AND revoked_at IS NULL AND expires_at > now()
RETURNING uuid, kind, method;
