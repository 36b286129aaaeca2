-- name: create :one?
-- No row when the actor already has a collection with this name.
INSERT INTO collections (user_id, name, description)
VALUES (%(actor_id)s, %(name)s, %(description)s)
ON CONFLICT (user_id, name) DO NOTHING
RETURNING id, uuid, name, description, 0::bigint AS file_count, created_at, updated_at;

-- name: list :many
SELECT c.id, c.uuid, c.name, c.description, count(m.media_file_id) AS file_count, c.created_at, c.updated_at
FROM collections c
LEFT JOIN collection_members m ON m.collection_id = c.id
WHERE {{collection_readable}}
GROUP BY c.id
ORDER BY c.name, c.id;

-- name: get :one?
SELECT c.id, c.uuid, c.name, c.description,
       (SELECT count(*) FROM collection_members m WHERE m.collection_id = c.id) AS file_count,
       c.created_at, c.updated_at
FROM collections c
WHERE c.uuid = %(uuid)s AND {{collection_readable}};

-- name: update :one?
-- NULL keeps a value; an empty description clears it.
UPDATE collections c
SET name = coalesce(%(name)s::text, c.name),
    description = CASE WHEN %(description)s::text IS NULL THEN c.description
                       ELSE nullif(%(description)s::text, '') END
WHERE c.uuid = %(uuid)s AND {{collection_owned}}
RETURNING c.id, c.uuid, c.name, c.description,
          (SELECT count(*) FROM collection_members m WHERE m.collection_id = c.id) AS file_count,
          c.created_at, c.updated_at;

-- name: delete :rowcount
DELETE FROM collections c
WHERE c.uuid = %(uuid)s AND {{collection_owned}};

-- name: add_files :one?
-- One statement, all or nothing: members are added only when every requested file is visible to the actor and
-- belongs to the collection's owner. No row when the collection is not the actor's (only its owner adds members).
WITH target AS (
    SELECT c.id, c.user_id
    FROM collections c
    WHERE c.uuid = %(collection_uuid)s AND {{collection_owned}}
), requested AS (
    SELECT count(DISTINCT u) AS n FROM unnest(%(file_uuids)s::uuid[]) AS u
), found AS (
    SELECT f.id
    FROM media_files f
    JOIN target ON f.user_id = target.user_id
    WHERE f.uuid = ANY(%(file_uuids)s::uuid[]) AND {{file_readable}}
), added AS (
    INSERT INTO collection_members (collection_id, media_file_id)
    SELECT target.id, found.id
    FROM target, found
    WHERE (SELECT count(*) FROM found) = (SELECT n FROM requested)
    ON CONFLICT (collection_id, media_file_id) DO NOTHING
    RETURNING media_file_id
)
SELECT (SELECT count(*) FROM added) AS added,
       (SELECT count(*) FROM found) AS found,
       (SELECT n FROM requested) AS requested
FROM target;

-- name: remove_files :one?
-- No row when the collection is not the actor's (only its owner removes members).
WITH target AS (
    SELECT c.id
    FROM collections c
    WHERE c.uuid = %(collection_uuid)s AND {{collection_owned}}
), removed AS (
    DELETE FROM collection_members m
    USING target, media_files f
    WHERE m.collection_id = target.id AND m.media_file_id = f.id AND f.uuid = ANY(%(file_uuids)s::uuid[])
    RETURNING m.media_file_id
)
SELECT (SELECT count(*) FROM removed) AS removed
FROM target;

-- name: files :many
-- Oldest member first; only files the actor can see (a collection shared with them: all its members, through
-- shared_files()).
SELECT f.uuid AS file_uuid, f.filename, m.added_at
FROM collections c
JOIN collection_members m ON m.collection_id = c.id
JOIN media_files f ON f.id = m.media_file_id
WHERE c.uuid = %(collection_uuid)s
  AND {{collection_readable}}
  AND {{file_readable}}
ORDER BY m.added_at, f.id;
