-- Shares of a file, a collection or a speaker profile with a user or a group (repo/shares.py). Only the object's
-- owner (or an administrator in the explicit all-files view) grants, lists and revokes; someone who can see the
-- object but does not own it is told so (403), someone who cannot see it is not told it exists (404).

-- name: file_target :one?
-- A file the actor can see, and whether they own it.
SELECT f.id, f.uuid, coalesce(f.title, f.filename) AS name, f.user_id AS owner_id, {{file_owned}} AS owned
FROM media_files f
WHERE f.uuid = %(uuid)s AND {{file_readable}};

-- name: collection_target :one?
-- A collection the actor can see: their own, or one shared with them directly or through a group they are in.
SELECT c.id, c.uuid, c.name, c.user_id AS owner_id, {{collection_owned}} AS owned
FROM collections c
WHERE c.uuid = %(uuid)s AND {{collection_readable}};

-- name: profile_target :one?
-- A speaker profile the actor can see: their own, or one shared with them directly or through a group.
SELECT p.id, p.uuid, p.name, p.user_id AS owner_id, {{profile_owned}} AS owned
FROM speaker_profiles p
WHERE p.uuid = %(uuid)s AND {{profile_readable}};

-- name: user_by_email :one?
-- An active account by its address (unique whatever its case).
SELECT id, coalesce(nullif(full_name, ''), email) AS name FROM users
WHERE lower(email) = lower(%(email)s) AND is_active;

-- name: my_group :one?
-- A group the actor is in: the only groups they may share with (a group they are not in is not theirs to fill
-- with access, and its existence is not told).
SELECT g.id, g.name
FROM groups g
JOIN group_members m ON m.group_id = g.id AND m.user_id = %(actor_id)s
WHERE g.uuid = %(uuid)s;

-- name: grant :one?
-- An upsert on the unique indexes of `shares` (one share per object and grantee): a new share, or the existing
-- one with the new role. `created` tells which (a notification goes out only for a new one). Exactly one of the
-- object ids and one of the grantee ids is non-NULL; a NULL compares as unknown, so it matches nothing. No row only
-- when a concurrent transaction inserted the same share first (the caller retries, then updates it).
WITH existing AS (
    SELECT s.id FROM shares s
    WHERE (s.media_file_id = %(media_file_id)s::bigint OR s.collection_id = %(collection_id)s::bigint
           OR s.speaker_profile_id = %(speaker_profile_id)s::bigint)
      AND (s.user_id = %(user_id)s::bigint OR s.group_id = %(group_id)s::bigint)
    FOR UPDATE
), updated AS (
    UPDATE shares s SET role = %(role)s::text
    FROM existing e
    WHERE s.id = e.id
    RETURNING s.uuid, false AS created
), inserted AS (
    INSERT INTO shares (media_file_id, collection_id, speaker_profile_id, user_id, group_id, role, shared_by)
    SELECT %(media_file_id)s::bigint, %(collection_id)s::bigint, %(speaker_profile_id)s::bigint,
           %(user_id)s::bigint, %(group_id)s::bigint, %(role)s::text, %(actor_id)s::bigint
    WHERE NOT EXISTS (SELECT 1 FROM existing)
    ON CONFLICT DO NOTHING
    RETURNING uuid, true AS created
)
SELECT uuid, created FROM updated
UNION ALL
SELECT uuid, created FROM inserted;

-- name: listing :many
-- Who has access to one object, as its owner sees it: each share with the grantee's name and address or the
-- group's name, the role, who shared it and when. For a file also the shares of the collections it is in, which
-- it inherits (`via_collection_*` set): those are revoked on the collection. `share_uuid` NULL: all of them.
SELECT s.uuid, s.role,
       CASE WHEN s.user_id IS NOT NULL THEN 'user' ELSE 'group' END AS grantee_kind,
       u.uuid AS user_uuid, u.full_name AS user_name, u.email AS user_email,
       g.uuid AS group_uuid, g.name AS group_name,
       sb.uuid AS shared_by_uuid, coalesce(nullif(sb.full_name, ''), sb.email) AS shared_by_name,
       s.created_at,
       c.uuid AS via_collection_uuid, c.name AS via_collection_name
FROM shares s
LEFT JOIN users u ON u.id = s.user_id
LEFT JOIN groups g ON g.id = s.group_id
LEFT JOIN users sb ON sb.id = s.shared_by
LEFT JOIN collections c ON c.id = s.collection_id AND %(media_file_id)s::bigint IS NOT NULL
WHERE (s.media_file_id = %(media_file_id)s::bigint
       OR s.collection_id = %(collection_id)s::bigint
       OR s.speaker_profile_id = %(speaker_profile_id)s::bigint
       OR s.collection_id IN (SELECT cm.collection_id FROM collection_members cm
                              WHERE cm.media_file_id = %(media_file_id)s::bigint))
  AND (%(share_uuid)s::uuid IS NULL OR s.uuid = %(share_uuid)s::uuid)
ORDER BY c.uuid IS NOT NULL, s.created_at, s.id;

-- name: revoke :rowcount
-- One share of this object (not one it inherits from a collection: that is revoked on the collection).
DELETE FROM shares s
WHERE s.uuid = %(share_uuid)s
  AND (s.media_file_id = %(media_file_id)s::bigint OR s.collection_id = %(collection_id)s::bigint
       OR s.speaker_profile_id = %(speaker_profile_id)s::bigint);

-- name: group_recipients :many
-- Who hears of a new share with a group: its members, but not the one who shared nor the object's owner.
SELECT m.user_id AS id FROM group_members m
WHERE m.group_id = %(group_id)s AND m.user_id <> %(actor_id)s AND m.user_id <> %(owner_id)s
ORDER BY m.user_id;

-- name: sharer_name :scalar
SELECT coalesce(nullif(full_name, ''), email) FROM users WHERE id = %(actor_id)s;

-- name: shared_with_me :many
-- The objects others shared with the actor, directly or through a group they are in: one row per object, with the
-- highest role any share gives, the owner's name, and who shared it (the share giving that role). Newest first.
WITH mine AS (
    SELECT s.media_file_id, s.collection_id, s.speaker_profile_id, s.role, s.rank, s.shared_by, s.created_at,
           g.uuid AS via_group_uuid, g.name AS via_group_name
    FROM shares s
    LEFT JOIN groups g ON g.id = s.group_id
    WHERE s.user_id = %(actor_id)s
       OR s.group_id IN (SELECT gm.group_id FROM group_members gm WHERE gm.user_id = %(actor_id)s)
), objects AS (
    SELECT 'file' AS object_kind, f.uuid AS object_uuid, coalesce(f.title, f.filename) AS object_name,
           f.user_id AS owner_id, m.*
    FROM mine m JOIN media_files f ON f.id = m.media_file_id
    UNION ALL
    SELECT 'collection', c.uuid, c.name, c.user_id, m.*
    FROM mine m JOIN collections c ON c.id = m.collection_id
    UNION ALL
    SELECT 'speaker_profile', p.uuid, p.name, p.user_id, m.*
    FROM mine m JOIN speaker_profiles p ON p.id = m.speaker_profile_id
), best AS (
    SELECT DISTINCT ON (o.object_kind, o.object_uuid) o.*
    FROM objects o
    WHERE o.owner_id <> %(actor_id)s
    ORDER BY o.object_kind, o.object_uuid, o.rank DESC, o.created_at
)
SELECT b.object_kind, b.object_uuid, b.object_name, b.role,
       coalesce(nullif(ow.full_name, ''), ow.email) AS owner_name,
       coalesce(nullif(sb.full_name, ''), sb.email) AS shared_by_name,
       b.via_group_uuid, b.via_group_name, b.created_at
FROM best b
JOIN users ow ON ow.id = b.owner_id
LEFT JOIN users sb ON sb.id = b.shared_by
ORDER BY b.created_at DESC, b.object_kind, b.object_uuid;
