-- Second factors (repo/two_factor.py): a sealed TOTP secret per account, its one-time recovery codes (hashes only),
-- and whether an administrator requires two factors of the account. Sign-ins read them as the system.

-- name: state :one?
-- The account's second factor; `recovery_left`: recovery codes not used yet.
SELECT t.user_id, t.required, t.secret_sealed, t.secret_version, t.enabled_at, t.last_step,
       (SELECT count(*) FROM recovery_codes r WHERE r.user_id = t.user_id AND r.used_at IS NULL) AS recovery_left
FROM user_two_factor t WHERE t.user_id = %(user_id)s;

-- name: start :exec
-- A new secret, not enabled until a code confirms it (an enabled one is never replaced here: see the WHERE).
INSERT INTO user_two_factor (user_id, secret_sealed, secret_version)
VALUES (%(user_id)s, %(secret_sealed)s, %(secret_version)s)
ON CONFLICT (user_id) DO UPDATE
SET secret_sealed = EXCLUDED.secret_sealed, secret_version = EXCLUDED.secret_version, last_step = NULL,
    updated_at = now()
WHERE user_two_factor.enabled_at IS NULL;

-- name: use_step :rowcount
-- Accept a code of time step `step` once: 0 rows when this step (or a later one) was accepted before.
UPDATE user_two_factor SET last_step = %(step)s
WHERE user_id = %(user_id)s AND secret_sealed IS NOT NULL AND (last_step IS NULL OR last_step < %(step)s);

-- name: enable :rowcount
UPDATE user_two_factor SET enabled_at = now(), updated_at = now()
WHERE user_id = %(user_id)s AND secret_sealed IS NOT NULL AND enabled_at IS NULL;

-- name: disable :rowcount
-- The secret goes; whether an administrator requires two factors stays.
UPDATE user_two_factor SET secret_sealed = NULL, secret_version = NULL, enabled_at = NULL, last_step = NULL,
       updated_at = now()
WHERE user_id = %(user_id)s AND secret_sealed IS NOT NULL;

-- name: set_required :exec
INSERT INTO user_two_factor (user_id, required) VALUES (%(user_id)s, %(required)s)
ON CONFLICT (user_id) DO UPDATE SET required = EXCLUDED.required, updated_at = now();

-- name: required_user_ids :many
-- The accounts an administrator requires two factors of (the admin page's check boxes).
SELECT user_id FROM user_two_factor WHERE required;

-- name: all_sealed :many
-- Every sealed secret, for `opentr keys rotate`.
SELECT user_id, secret_sealed, secret_version FROM user_two_factor WHERE secret_sealed IS NOT NULL FOR UPDATE;

-- name: reseal :rowcount
UPDATE user_two_factor t SET secret_sealed = v.sealed, secret_version = %(secret_version)s
FROM unnest(%(user_ids)s::bigint[], %(sealed)s::bytea[]) AS v (user_id, sealed)
WHERE t.user_id = v.user_id;

-- name: drop_codes :rowcount
DELETE FROM recovery_codes WHERE user_id = %(user_id)s;

-- name: add_codes :rowcount
INSERT INTO recovery_codes (user_id, code_hash)
SELECT %(user_id)s, h FROM unnest(%(hashes)s::bytea[]) AS h;

-- name: use_code :rowcount
-- A recovery code works once: 0 rows when it is unknown or was used before.
UPDATE recovery_codes SET used_at = now()
WHERE user_id = %(user_id)s AND code_hash = %(code_hash)s AND used_at IS NULL;

-- name: code_was_used :scalar
SELECT EXISTS (SELECT 1 FROM recovery_codes WHERE user_id = %(user_id)s AND code_hash = %(code_hash)s);
