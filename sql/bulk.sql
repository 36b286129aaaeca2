-- Actions on many files at once (web/bulk.py), each one set-based statement over the requested uuids. Files the
-- actor may not act on at the rank the action needs (sql/fragments.sql: delete owned, tags editable, adding to a
-- collection readable) are simply not among the rows; `readable` then tells which of those the actor sees (reported
-- as forbidden, as repo/access.py does for one file) from those they do not (not found: existence is not told).

-- name: delete :many
-- One statement: everything hanging off the files goes with them through ON DELETE CASCADE.
DELETE FROM media_files f
WHERE f.uuid = ANY(%(uuids)s::uuid[]) AND {{file_owned}}
RETURNING f.uuid, f.storage_path, true AS changed;

-- name: add_tag :many
WITH visible AS (
    SELECT f.id, f.uuid FROM media_files f
    WHERE f.uuid = ANY(%(uuids)s::uuid[]) AND {{file_editable}}
), added AS (
    INSERT INTO file_tags (media_file_id, tag_id)
    SELECT visible.id, %(tag_id)s::bigint FROM visible
    ON CONFLICT (media_file_id, tag_id) DO NOTHING
    RETURNING media_file_id
)
SELECT v.uuid, NULL::text AS storage_path, EXISTS (SELECT 1 FROM added a WHERE a.media_file_id = v.id) AS changed
FROM visible v;

-- name: remove_tag :many
WITH visible AS (
    SELECT f.id, f.uuid FROM media_files f
    WHERE f.uuid = ANY(%(uuids)s::uuid[]) AND {{file_editable}}
), removed AS (
    DELETE FROM file_tags ft
    USING visible, tags t
    WHERE ft.media_file_id = visible.id AND ft.tag_id = t.id AND t.name = %(tag)s::text
    RETURNING ft.media_file_id
)
SELECT v.uuid, NULL::text AS storage_path, EXISTS (SELECT 1 FROM removed r WHERE r.media_file_id = v.id) AS changed
FROM visible v;

-- name: add_to_collection :many
-- Only files of the collection's owner join it (as in collections.add_files).
WITH visible AS (
    SELECT f.id, f.uuid, f.user_id FROM media_files f
    WHERE f.uuid = ANY(%(uuids)s::uuid[]) AND {{file_readable}}
), added AS (
    INSERT INTO collection_members (collection_id, media_file_id)
    SELECT %(collection_id)s::bigint, visible.id FROM visible WHERE visible.user_id = %(collection_owner)s::bigint
    ON CONFLICT (collection_id, media_file_id) DO NOTHING
    RETURNING media_file_id
)
SELECT v.uuid, NULL::text AS storage_path, EXISTS (SELECT 1 FROM added a WHERE a.media_file_id = v.id) AS changed
FROM visible v
WHERE v.user_id = %(collection_owner)s::bigint;

-- name: collection :one
SELECT c.id, c.user_id FROM collections c
WHERE c.uuid = %(collection_uuid)s AND {{collection_owned}};

-- name: readable :many
-- Which of these files the actor can see at all (any rank): a refused one among them is forbidden, not unknown.
SELECT f.uuid FROM media_files f
WHERE f.uuid = ANY(%(uuids)s::uuid[]) AND {{file_readable}};
