-- name: insert :one?
-- No row when the name exists already (possibly committed a moment ago by another transaction).
INSERT INTO tags (name) VALUES (%(name)s)
ON CONFLICT (name) DO NOTHING
RETURNING id, uuid, name, created_at;

-- name: get_by_name :one
SELECT id, uuid, name, created_at FROM tags WHERE name = %(name)s;

-- name: attach :scalar
-- Whether the actor may edit the file's tags (editor or owner); the tag is attached only then, and attaching twice
-- changes nothing. False: repo/access.py tells 404 from 403.
WITH file AS (
    SELECT f.id
    FROM media_files f
    WHERE f.uuid = %(file_uuid)s AND {{file_editable}}
), attached AS (
    INSERT INTO file_tags (media_file_id, tag_id)
    SELECT file.id, %(tag_id)s::bigint FROM file
    ON CONFLICT (media_file_id, tag_id) DO NOTHING
)
SELECT EXISTS (SELECT 1 FROM file) AS file_visible;

-- name: detach :rowcount
DELETE FROM file_tags ft
USING media_files f, tags t
WHERE ft.media_file_id = f.id
  AND ft.tag_id = t.id
  AND f.uuid = %(file_uuid)s
  AND t.name = %(name)s
  AND {{file_editable}};

-- name: list_with_counts :many
-- Counts only the files the actor can see; tags on none of them are left out.
SELECT t.name, t.uuid, count(*) AS file_count
FROM tags t
JOIN file_tags ft ON ft.tag_id = t.id
JOIN media_files f ON f.id = ft.media_file_id
WHERE {{file_readable}}
GROUP BY t.id
ORDER BY t.name;

-- name: for_file :many
SELECT t.id, t.uuid, t.name, t.created_at
FROM media_files f
JOIN file_tags ft ON ft.media_file_id = f.id
JOIN tags t ON t.id = ft.tag_id
WHERE f.uuid = %(file_uuid)s AND {{file_readable}}
ORDER BY t.name;

-- name: file_visible :scalar
SELECT EXISTS (
    SELECT 1 FROM media_files f
    WHERE f.uuid = %(file_uuid)s AND {{file_readable}}
) AS file_visible;

-- name: list_unused :many
-- Tags no file carries, anyone's: global names, so their existence is no one's secret (POST /api/tags tells).
SELECT t.name, t.uuid, 0::bigint AS file_count
FROM tags t
WHERE NOT EXISTS (SELECT 1 FROM file_tags ft WHERE ft.tag_id = t.id)
ORDER BY t.name;

-- name: delete_unused :many
-- Administrators only. A tag someone is attaching right now holds a key-share lock on its row (the foreign key
-- check of the new file_tags row): SKIP LOCKED leaves it alone instead of cascading that attachment away.
DELETE FROM tags
WHERE id IN (
    SELECT t.id FROM tags t
    WHERE NOT EXISTS (SELECT 1 FROM file_tags ft WHERE ft.tag_id = t.id) AND %(actor_is_admin)s::boolean
    FOR UPDATE SKIP LOCKED)
RETURNING name;
