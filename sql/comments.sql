-- name: create :one?
-- No row when the actor may not comment on the file (repo/access.py tells 404 from 403).
WITH file AS (
    SELECT f.id, f.uuid
    FROM media_files f
    WHERE f.uuid = %(file_uuid)s AND {{file_commentable}}
), inserted AS (
    INSERT INTO comments (media_file_id, user_id, text, timestamp)
    SELECT file.id, %(actor_id)s::bigint, %(text)s::text, %(timestamp)s::double precision FROM file
    RETURNING uuid, user_id, text, timestamp, created_at, updated_at
)
SELECT c.uuid, file.uuid AS file_uuid, u.uuid AS author_uuid,
       coalesce(nullif(u.full_name, ''), u.email) AS author_name,
       c.text, c.timestamp, c.created_at, c.updated_at
FROM inserted c
CROSS JOIN file
JOIN users u ON u.id = c.user_id;

-- name: list_for_file :many
SELECT c.uuid, f.uuid AS file_uuid, u.uuid AS author_uuid,
       coalesce(nullif(u.full_name, ''), u.email) AS author_name,
       c.text, c.timestamp, c.created_at, c.updated_at
FROM media_files f
JOIN comments c ON c.media_file_id = f.id
JOIN users u ON u.id = c.user_id
WHERE f.uuid = %(file_uuid)s AND {{file_readable}}
ORDER BY c.created_at, c.id;

-- name: file_visible :scalar
SELECT EXISTS (
    SELECT 1 FROM media_files f
    WHERE f.uuid = %(file_uuid)s AND {{file_readable}}
) AS file_visible;

-- name: update :one?
-- Only the author, on a file they can still comment on; no row otherwise.
UPDATE comments c
SET text = %(text)s
FROM media_files f, users u
WHERE c.uuid = %(uuid)s
  AND f.id = c.media_file_id
  AND u.id = c.user_id
  AND c.user_id = %(actor_id)s
  AND {{file_commentable}}
RETURNING c.uuid, f.uuid AS file_uuid, u.uuid AS author_uuid,
          coalesce(nullif(u.full_name, ''), u.email) AS author_name,
          c.text, c.timestamp, c.created_at, c.updated_at;

-- name: delete :rowcount
-- The author, on a file they can still comment on, or the file's owner (any comment on their file).
DELETE FROM comments c
USING media_files f
WHERE c.uuid = %(uuid)s
  AND f.id = c.media_file_id
  AND ((c.user_id = %(actor_id)s AND {{file_commentable}}) OR {{file_owned}});
