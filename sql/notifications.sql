-- name: notify :one?
-- Stored and announced in one statement, so listeners hear it only when the transaction commits; nothing at all
-- when the user muted this kind. The payload carries ids only, never the user's email or the message.
WITH created AS (
    INSERT INTO notifications (user_id, kind, title, message, data, progress, media_file_id, task_id)
    SELECT %(user_id)s, %(kind)s, %(title)s, %(message)s, %(data)s, %(progress)s, %(media_file_id)s, %(task_id)s
    WHERE NOT EXISTS (
        SELECT 1 FROM notification_preferences p
        WHERE p.user_id = %(user_id)s AND p.kind = %(kind)s AND NOT p.in_app)
    RETURNING *
), announced AS (
    SELECT pg_notify(%(channel)s, json_build_object(
        'user_id', created.user_id, 'uuid', created.uuid, 'kind', created.kind)::text) AS sent
    FROM created
)
SELECT n.id, n.uuid, n.user_id, n.kind, n.title, n.message, n.data, n.progress, n.media_file_id,
       m.uuid AS media_file_uuid, n.task_id, n.created_at, n.read_at
FROM created n
CROSS JOIN announced
LEFT JOIN media_files m ON m.id = n.media_file_id;

-- name: announce_progress :exec
-- A job's step, for the owner's open pages: announced on commit like a notification, but never stored (see
-- repo/notifications.py). The payload names the file by uuid, the one id pages know, and never its name.
SELECT pg_notify(%(channel)s, json_build_object(
    'event', %(event)s::text,
    'user_id', %(user_id)s::bigint,
    'file_uuid', (SELECT m.uuid FROM media_files m WHERE m.id = %(media_file_id)s::bigint),
    'task_id', %(task_id)s::text,
    'step', %(step)s::text,
    'progress', %(progress)s::real)::text);

-- name: list_for_user :many
-- Keyset: the cursor is the uuid of the last notification of the previous page (newest first).
SELECT n.id, n.uuid, n.user_id, n.kind, n.title, n.message, n.data, n.progress, n.media_file_id,
       m.uuid AS media_file_uuid, n.task_id, n.created_at, n.read_at
FROM notifications n
LEFT JOIN media_files m ON m.id = n.media_file_id
WHERE n.user_id = %(actor_id)s
  AND (NOT %(unread_only)s::boolean OR n.read_at IS NULL)
  AND (%(cursor)s::uuid IS NULL OR (n.created_at, n.id) < (
          SELECT c.created_at, c.id FROM notifications c
          WHERE c.uuid = %(cursor)s::uuid AND c.user_id = %(actor_id)s))
ORDER BY n.created_at DESC, n.id DESC
LIMIT %(limit)s;

-- name: get :one?
SELECT n.id, n.uuid, n.user_id, n.kind, n.title, n.message, n.data, n.progress, n.media_file_id,
       m.uuid AS media_file_uuid, n.task_id, n.created_at, n.read_at
FROM notifications n
LEFT JOIN media_files m ON m.id = n.media_file_id
WHERE n.uuid = %(uuid)s AND n.user_id = %(actor_id)s;

-- name: unread_count :scalar
SELECT count(*) FROM notifications WHERE user_id = %(actor_id)s AND read_at IS NULL;

-- name: mark_read :rowcount
-- NULL uuids: every unread notification of the actor.
UPDATE notifications SET read_at = now()
WHERE user_id = %(actor_id)s AND read_at IS NULL
  AND (%(uuids)s::uuid[] IS NULL OR uuid = ANY(%(uuids)s::uuid[]));

-- name: preferences :many
SELECT k.kind, coalesce(p.in_app, true) AS in_app
FROM unnest(%(kinds)s::text[]) AS k(kind)
LEFT JOIN notification_preferences p ON p.user_id = %(actor_id)s AND p.kind = k.kind
ORDER BY k.kind;

-- name: set_preference :one
INSERT INTO notification_preferences (user_id, kind, in_app)
VALUES (%(actor_id)s, %(kind)s, %(in_app)s)
ON CONFLICT (user_id, kind) DO UPDATE SET in_app = EXCLUDED.in_app
RETURNING kind, in_app;
