-- Retention (repo/retention.py, migration 0019): which recordings go when, legal holds, notices, and the run's
-- bookkeeping. The rule, decided once in the fragment `schedule`: the shortest applicable period wins (the instance
-- default, and the policy of every collection holding the file that its owner owns); an active hold on the file or
-- on any collection holding it stops deletion.

-- fragment: schedule
-- For a media file aliased `f`: `p` the period that applies (NULL columns: none) and where it comes from, `d` its due
-- moment, `h` its first active hold (NULL: none).
LEFT JOIN LATERAL (
    SELECT o.days, o.source, o.collection_uuid, o.collection_name
    FROM (SELECT s.default_days AS days, 'default' AS source, NULL::uuid AS collection_uuid,
                 NULL::text AS collection_name, 1 AS rank
          FROM retention_settings s WHERE s.default_days IS NOT NULL
          UNION ALL
          SELECT c.retention_days, 'collection', c.uuid, c.name, 0
          FROM collection_members cm JOIN collections c ON c.id = cm.collection_id
          WHERE cm.media_file_id = f.id AND c.user_id = f.user_id AND c.retention_days IS NOT NULL) o
    ORDER BY o.days, o.rank, o.collection_name
    LIMIT 1
) p ON true
CROSS JOIN LATERAL (SELECT f.upload_time + make_interval(days => p.days) AS due_at) d
LEFT JOIN LATERAL (
    SELECT lh.uuid, lh.reason, lh.placed_at
    FROM legal_holds lh
    WHERE lh.released_at IS NULL
      AND (lh.media_file_id = f.id
           OR lh.collection_id IN (SELECT cm.collection_id FROM collection_members cm WHERE cm.media_file_id = f.id))
    ORDER BY lh.placed_at, lh.id
    LIMIT 1
) h ON true

-- name: plan :many
-- Files due before now + horizon_days, by id from after_id (keyset pages; the job runs it as the system). A file is
-- deletable when it is due, not held, and its owner was told at least notice_days ago (0: no notice needed).
SELECT f.id, f.uuid, f.user_id AS owner_id, u.email AS owner_email, coalesce(f.title, f.filename) AS title,
       f.storage_path, p.days, p.source, p.collection_uuid, p.collection_name, d.due_at,
       h.uuid AS hold_uuid, h.reason AS hold_reason,
       EXISTS (SELECT 1 FROM retention_notices n
               WHERE n.media_file_id = f.id AND n.due_on = (d.due_at AT TIME ZONE 'UTC')::date) AS noticed,
       (h.uuid IS NULL AND d.due_at <= now()
        AND (%(notice_days)s::integer = 0
             OR EXISTS (SELECT 1 FROM retention_notices n
                        WHERE n.media_file_id = f.id
                          AND n.notified_at <= now() - make_interval(days => %(notice_days)s::integer)))
       ) AS deletable
FROM media_files f
JOIN users u ON u.id = f.user_id
{{schedule}}
WHERE p.days IS NOT NULL
  AND d.due_at <= now() + make_interval(days => %(horizon_days)s::integer)
  AND f.id > %(after_id)s::bigint
ORDER BY f.id
LIMIT %(limit)s;

-- name: file_schedule :one?
-- One file's schedule for its owner (or an administrator's all-files view).
SELECT f.uuid, p.days, p.source, p.collection_uuid, p.collection_name, d.due_at,
       h.uuid AS hold_uuid, h.reason AS hold_reason, h.placed_at AS hold_placed_at
FROM media_files f
{{schedule}}
WHERE f.uuid = %(uuid)s AND {{file_owned}};

-- name: record_notice :one?
-- The owner is told once per file and due date: a row only when none was there (then the notification is sent).
INSERT INTO retention_notices (media_file_id, due_on)
VALUES (%(media_file_id)s, (%(due_at)s::timestamptz AT TIME ZONE 'UTC')::date)
ON CONFLICT DO NOTHING
RETURNING media_file_id, due_on;

-- name: delete_files :many
-- One batch of due files, the hold re-checked in the same statement (a hold placed since the plan was read wins).
-- Every derived row goes by the schema's cascades; the stored objects go after the commit (workers/retention_job.py).
DELETE FROM media_files f
WHERE f.id = ANY(%(ids)s::bigint[])
  AND NOT EXISTS (
      SELECT 1 FROM legal_holds lh
      WHERE lh.released_at IS NULL
        AND (lh.media_file_id = f.id
             OR lh.collection_id IN (SELECT cm.collection_id FROM collection_members cm WHERE cm.media_file_id = f.id)))
RETURNING f.id, f.uuid, f.storage_path;

-- name: audit_older_than :scalar
-- What the audit log's own retention would purge (the dry run).
SELECT count(*) FROM audit_log WHERE at < now() - make_interval(days => %(days)s::integer);

-- name: instance_policy :one
SELECT s.default_days, s.updated_at, u.email AS updated_by_email
FROM retention_settings s LEFT JOIN users u ON u.id = s.updated_by;

-- name: set_instance_policy :one
UPDATE retention_settings SET default_days = %(days)s, updated_by = %(actor_id)s, updated_at = now()
RETURNING default_days, updated_at, (SELECT email FROM users WHERE id = %(actor_id)s::bigint) AS updated_by_email;

-- name: collection_policy :one?
-- A collection's policy and active hold, for whoever may read the collection.
SELECT c.uuid, c.retention_days AS days, lh.uuid AS hold_uuid, lh.reason AS hold_reason, lh.placed_at AS hold_placed_at
FROM collections c
LEFT JOIN legal_holds lh ON lh.collection_id = c.id AND lh.released_at IS NULL
WHERE c.uuid = %(uuid)s AND {{collection_readable}};

-- name: set_collection_policy :one?
UPDATE collections c SET retention_days = %(days)s, updated_at = now()
WHERE c.uuid = %(uuid)s AND {{collection_owned}}
RETURNING c.uuid, c.retention_days AS days, NULL::uuid AS hold_uuid, NULL::text AS hold_reason,
          NULL::timestamptz AS hold_placed_at;

-- Legal holds: administrators only (web/retention.py), run as the system (they reach every user's objects).

-- name: file_id :one?
SELECT id, coalesce(title, filename) AS name FROM media_files WHERE uuid = %(uuid)s;

-- name: collection_id :one?
SELECT id, name FROM collections WHERE uuid = %(uuid)s;

-- name: place_hold :one
WITH placed AS (
    INSERT INTO legal_holds (media_file_id, collection_id, reason, placed_by)
    VALUES (%(media_file_id)s, %(collection_id)s, %(reason)s, %(actor_id)s)
    RETURNING *
)
{{hold_columns}} FROM placed lh
LEFT JOIN media_files f ON f.id = lh.media_file_id
LEFT JOIN collections c ON c.id = lh.collection_id
LEFT JOIN users ow ON ow.id = coalesce(f.user_id, c.user_id)
LEFT JOIN users pb ON pb.id = lh.placed_by
LEFT JOIN users rb ON rb.id = lh.released_by;

-- name: release_hold :one?
WITH lifted AS (
    UPDATE legal_holds SET released_at = now(), released_by = %(actor_id)s
    WHERE uuid = %(uuid)s AND released_at IS NULL
    RETURNING *
)
{{hold_columns}} FROM lifted lh
LEFT JOIN media_files f ON f.id = lh.media_file_id
LEFT JOIN collections c ON c.id = lh.collection_id
LEFT JOIN users ow ON ow.id = coalesce(f.user_id, c.user_id)
LEFT JOIN users pb ON pb.id = lh.placed_by
LEFT JOIN users rb ON rb.id = lh.released_by;

-- name: list_holds :many
-- Active holds first, then the lifted ones (history), newest first.
{{hold_columns}} FROM legal_holds lh
LEFT JOIN media_files f ON f.id = lh.media_file_id
LEFT JOIN collections c ON c.id = lh.collection_id
LEFT JOIN users ow ON ow.id = coalesce(f.user_id, c.user_id)
LEFT JOIN users pb ON pb.id = lh.placed_by
LEFT JOIN users rb ON rb.id = lh.released_by
WHERE %(active_only)s::boolean IS FALSE OR lh.released_at IS NULL
ORDER BY lh.released_at IS NOT NULL, lh.placed_at DESC, lh.id DESC
LIMIT %(limit)s;

-- fragment: hold_columns
SELECT lh.uuid, CASE WHEN lh.media_file_id IS NOT NULL THEN 'file' ELSE 'collection' END AS object_type,
       coalesce(f.uuid, c.uuid) AS object_uuid, coalesce(f.title, f.filename, c.name) AS object_name,
       ow.email AS owner_email, lh.reason, pb.email AS placed_by_email, lh.placed_at,
       rb.email AS released_by_email, lh.released_at

-- The `retention` job kind (jobs/retention.py): at most one waiting or running, one per interval.

-- name: queue_lock :exec
-- Several workers' maintenance may decide at the same moment: one at a time, until the transaction ends.
SELECT pg_advisory_xact_lock(hashtextextended('opentr.retention.queue', 0));

-- name: run_wanted :scalar
SELECT NOT EXISTS (
    SELECT 1 FROM tasks t
    WHERE t.task_type = %(task_type)s
      AND (t.status IN ('pending', 'in_progress') OR t.created_at > now() - make_interval(secs => %(interval)s)));

-- name: task_owner :scalar
-- A task needs a user: the runs are filed under the first active administrator (their task list shows them); NULL
-- when there is none.
SELECT (SELECT id FROM users WHERE role = 'admin' AND is_active ORDER BY id LIMIT 1);

-- name: jobs_waiting :many
-- A retention run's subject is the whole instance (subject id 0; repo/jobs.py).
SELECT t.id AS task_id, 0::bigint AS subject_id
FROM tasks t
WHERE t.task_type = %(task_type)s AND t.status = 'pending'
ORDER BY t.created_at, t.id
LIMIT %(limit)s;

-- name: jobs_claimed :many
SELECT t.id AS task_id, 0::bigint AS subject_id
FROM tasks t
WHERE t.task_type = %(task_type)s AND t.status = 'in_progress'
ORDER BY t.id
LIMIT %(limit)s;
