-- Groups of users (repo/groups.py). A person sees the groups they are in; an administrator manages any group.
-- Who may do what is decided here, in SQL, from the actor's membership row: `my_role` is the actor's role in the
-- group ('owner', 'member') or NULL for an administrator who is not in it.

-- name: create :one
-- The group and its creator as its first owner, in one statement.
WITH g AS (
    INSERT INTO groups (name, description, created_by)
    VALUES (%(name)s, %(description)s, %(actor_id)s)
    RETURNING id, uuid, name, description, created_at, updated_at
), owner AS (
    INSERT INTO group_members (group_id, user_id, role)
    SELECT g.id, %(actor_id)s, 'owner' FROM g
    RETURNING role
)
SELECT g.id, g.uuid, g.name, g.description, owner.role AS my_role, 1::bigint AS member_count,
       g.created_at, g.updated_at
FROM g CROSS JOIN owner;

-- name: list_mine :many
-- The groups the actor is in (an administrator too: only their own here; GET /api/admin/groups lists all).
SELECT g.id, g.uuid, g.name, g.description, me.role AS my_role,
       (SELECT count(*) FROM group_members c WHERE c.group_id = g.id) AS member_count,
       g.created_at, g.updated_at
FROM group_members me
JOIN groups g ON g.id = me.group_id
WHERE me.user_id = %(actor_id)s
ORDER BY lower(g.name), g.id;

-- name: list_all :many
-- Every group, for an administrator (the caller checks is_admin; the query checks it again).
SELECT g.id, g.uuid, g.name, g.description, me.role AS my_role,
       (SELECT count(*) FROM group_members c WHERE c.group_id = g.id) AS member_count,
       g.created_at, g.updated_at
FROM groups g
LEFT JOIN group_members me ON me.group_id = g.id AND me.user_id = %(actor_id)s
WHERE %(actor_is_admin)s::boolean
ORDER BY lower(g.name), g.id;

-- name: get :one?
-- One group the actor is in (or any, for an administrator). With `lock`, the row is locked for the rest of the
-- transaction: every change of membership takes it first, so two owners demoting each other at the same moment
-- are serialised and the second sees that only one owner is left.
SELECT g.id, g.uuid, g.name, g.description, me.role AS my_role,
       (SELECT count(*) FROM group_members c WHERE c.group_id = g.id) AS member_count,
       g.created_at, g.updated_at
FROM groups g
LEFT JOIN group_members me ON me.group_id = g.id AND me.user_id = %(actor_id)s
WHERE g.uuid = %(uuid)s AND (me.user_id IS NOT NULL OR %(actor_is_admin)s::boolean);

-- name: lock :exec
SELECT 1 FROM groups WHERE id = %(group_id)s FOR UPDATE;

-- name: update :one
-- NULL keeps a value; an empty description clears it. The caller has checked the actor may.
UPDATE groups g
SET name = coalesce(%(name)s::text, g.name),
    description = CASE WHEN %(description)s::text IS NULL THEN g.description
                       ELSE nullif(%(description)s::text, '') END
WHERE g.id = %(group_id)s
RETURNING g.id, g.uuid, g.name, g.description, %(my_role)s::text AS my_role,
          (SELECT count(*) FROM group_members c WHERE c.group_id = g.id) AS member_count,
          g.created_at, g.updated_at;

-- name: delete :rowcount
DELETE FROM groups WHERE id = %(group_id)s;

-- name: members :many
-- Owners first, then by name.
SELECT u.uuid AS user_uuid, u.full_name, u.email, m.role, m.added_at
FROM group_members m
JOIN users u ON u.id = m.user_id
WHERE m.group_id = %(group_id)s
ORDER BY m.role = 'owner' DESC, lower(coalesce(nullif(u.full_name, ''), u.email)), u.id;

-- name: member :one?
SELECT u.id AS user_id, u.uuid AS user_uuid, m.role
FROM group_members m
JOIN users u ON u.id = m.user_id
WHERE m.group_id = %(group_id)s AND u.uuid = %(user_uuid)s;

-- name: user_by_email :one?
-- An active account by its address (addresses are unique whatever their case).
SELECT id AS user_id, uuid AS user_uuid, role FROM users
WHERE lower(email) = lower(%(email)s) AND is_active;

-- name: owner_count :scalar
SELECT count(*) FROM group_members WHERE group_id = %(group_id)s AND role = 'owner';

-- name: put_member :one
-- Add a member, or change the role of one already in (sharing a group with someone twice is not an error).
WITH put AS (
    INSERT INTO group_members (group_id, user_id, role)
    VALUES (%(group_id)s, %(user_id)s, %(role)s)
    ON CONFLICT (group_id, user_id) DO UPDATE SET role = EXCLUDED.role
    RETURNING user_id, role, added_at
)
SELECT u.uuid AS user_uuid, u.full_name, u.email, put.role, put.added_at
FROM put JOIN users u ON u.id = put.user_id;

-- name: remove_member :rowcount
DELETE FROM group_members WHERE group_id = %(group_id)s AND user_id = %(user_id)s;
