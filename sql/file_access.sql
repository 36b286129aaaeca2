-- How a file (or a collection) reaches the acting user, for the pages: the owner, or the highest role any share
-- gives them (shared_files(), the access rule itself) and who made the share that gives it. The controls a page
-- shows follow this role; what a person may actually do is decided by each query's own fragment.

-- name: for_file :one?
-- `rank`: 4 for the owner (or an admin in the all-files view), else the highest share's (1 viewer .. 3 editor).
-- `shared_by`: the person whose share gives that rank (the newest of equals), by name, else email.
SELECT f.uuid,
    (f.user_id = %(actor_id)s OR %(actor_sees_all)s::boolean) AS owned,
    coalesce(nullif(o.full_name, ''), o.email) AS owner_name,
    CASE WHEN f.user_id = %(actor_id)s OR %(actor_sees_all)s::boolean THEN 4
         ELSE (SELECT a.rank FROM shared_files(%(actor_id)s) a WHERE a.media_file_id = f.id) END AS rank,
    (SELECT coalesce(nullif(u.full_name, ''), u.email)
     FROM shares s
     JOIN users u ON u.id = s.shared_by
     WHERE (s.media_file_id = f.id
            OR s.collection_id IN (SELECT cm.collection_id FROM collection_members cm WHERE cm.media_file_id = f.id))
       AND (s.user_id = %(actor_id)s
            OR s.group_id IN (SELECT gm.group_id FROM group_members gm WHERE gm.user_id = %(actor_id)s))
     ORDER BY s.rank DESC, s.created_at DESC
     LIMIT 1) AS shared_by
FROM media_files f
JOIN users o ON o.id = f.user_id
WHERE f.uuid = %(uuid)s AND {{file_readable}};

-- name: for_collection :one?
-- The same for a collection: its owner, or the highest share of it that reaches the actor and its maker.
SELECT c.uuid,
    (c.user_id = %(actor_id)s OR %(actor_sees_all)s::boolean) AS owned,
    coalesce(nullif(o.full_name, ''), o.email) AS owner_name,
    CASE WHEN c.user_id = %(actor_id)s OR %(actor_sees_all)s::boolean THEN 4
         ELSE (SELECT max(s.rank) FROM shares s
               WHERE s.collection_id = c.id
                 AND (s.user_id = %(actor_id)s
                      OR s.group_id IN (SELECT gm.group_id FROM group_members gm WHERE gm.user_id = %(actor_id)s)))
    END AS rank,
    (SELECT coalesce(nullif(u.full_name, ''), u.email)
     FROM shares s
     JOIN users u ON u.id = s.shared_by
     WHERE s.collection_id = c.id
       AND (s.user_id = %(actor_id)s
            OR s.group_id IN (SELECT gm.group_id FROM group_members gm WHERE gm.user_id = %(actor_id)s))
     ORDER BY s.rank DESC, s.created_at DESC
     LIMIT 1) AS shared_by
FROM collections c
JOIN users o ON o.id = c.user_id
WHERE c.uuid = %(uuid)s AND {{collection_readable}};

-- name: owned_collections :many
-- The actor's own collections (the collection lists also show those shared with them): only these are renamed,
-- deleted, shared or given files from the pages.
SELECT c.uuid FROM collections c WHERE {{collection_owned}} ORDER BY c.id;

-- name: owned_profiles :many
-- The actor's own speaker profiles (the speakers page also lists those shared with them): only these are renamed,
-- merged, deleted or shared from the page.
SELECT p.uuid FROM speaker_profiles p WHERE {{profile_owned}} ORDER BY p.id;

-- name: profile_shares :many
-- Who each of the actor's own profiles is shared with, in one statement for the whole speakers page.
SELECT p.uuid AS profile_uuid, s.uuid,
    CASE WHEN s.group_id IS NULL THEN 'user' ELSE 'group' END AS kind,
    coalesce(g.name, nullif(u.full_name, ''), u.email) AS name,
    s.role
FROM speaker_profiles p
JOIN shares s ON s.speaker_profile_id = p.id
LEFT JOIN users u ON u.id = s.user_id
LEFT JOIN groups g ON g.id = s.group_id
WHERE {{profile_owned}}
ORDER BY p.id, s.created_at, s.id;
