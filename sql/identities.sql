-- Sign-ins from elsewhere (repo/identities.py): an identity provider's or a directory's account, linked to ours.
-- Read and written as the system: nobody is signed in yet when they run.

-- name: find_user :one?
-- The account an identity is linked to.
SELECT u.id, u.uuid, u.email, u.full_name, u.is_active, u.role, u.created_at, u.updated_at, u.last_login_at
FROM user_identities i JOIN users u ON u.id = i.user_id
WHERE i.provider = %(provider)s AND i.subject = %(subject)s;

-- name: user_by_email :one?
SELECT id, uuid, email, full_name, is_active, role, created_at, updated_at, last_login_at
FROM users WHERE lower(email) = lower(%(email)s);

-- name: link :exec
-- Link (or refresh the link of) an identity to an account; a second account can never take an identity over.
INSERT INTO user_identities (user_id, provider, subject, email, last_login_at)
VALUES (%(user_id)s, %(provider)s, %(subject)s, %(email)s, now())
ON CONFLICT (provider, subject) DO UPDATE
SET email = EXCLUDED.email, last_login_at = now()
WHERE user_identities.user_id = EXCLUDED.user_id;

-- name: create_user :one
-- An account made at its first sign-in from elsewhere: its password hash is "!", which no password matches (the
-- person signs in through the provider, or sets a password through a reset if password sign-in is on for them).
INSERT INTO users (email, hashed_password, full_name)
VALUES (%(email)s, '!', %(full_name)s)
RETURNING id, uuid, email, full_name, is_active, role, created_at, updated_at, last_login_at;

-- name: set_role :exec
UPDATE users SET role = %(role)s WHERE id = %(user_id)s AND role IS DISTINCT FROM %(role)s;

-- name: ensure_group :scalar
-- The platform's group of this name, created (with no creator) when it does not exist yet. Names are not unique;
-- the oldest of that name is the one a mapping means.
WITH found AS (
    SELECT id FROM groups WHERE name = %(name)s ORDER BY id LIMIT 1
), made AS (
    INSERT INTO groups (name, description)
    SELECT %(name)s, 'Members come from ' || %(provider)s::text
    WHERE NOT EXISTS (SELECT 1 FROM found)
    RETURNING id
)
SELECT id FROM found UNION ALL SELECT id FROM made;

-- name: sync_memberships :exec
-- The provider's memberships of this user become exactly `group_ids`: new ones added (as managed by the provider),
-- those it no longer lists removed. Memberships added by hand (managed_by NULL) are left alone, and a hand-made one
-- is never taken over.
WITH gone AS (
    DELETE FROM group_members
    WHERE user_id = %(user_id)s AND managed_by = %(provider)s AND NOT (group_id = ANY (%(group_ids)s::bigint[]))
)
INSERT INTO group_members (group_id, user_id, role, managed_by)
SELECT g, %(user_id)s, 'member', %(provider)s FROM unnest(%(group_ids)s::bigint[]) AS g
ON CONFLICT (group_id, user_id) DO NOTHING;

-- name: touch_login :exec
UPDATE users SET last_login_at = now() WHERE id = %(user_id)s;

-- name: identities_of :many
-- An account's linked identities (its settings page, an administrator's view of it).
SELECT provider, subject, email, created_at, last_login_at
FROM user_identities WHERE user_id = %(user_id)s ORDER BY provider, subject;

-- name: has_identity_from :scalar
-- Whether the account signs in through a provider of this kind ('oidc:' or 'ldap:'), for the rule that password
-- sign-in may be turned off for directory users.
SELECT EXISTS (SELECT 1 FROM user_identities WHERE user_id = %(user_id)s AND provider LIKE %(prefix)s || '%%');
