-- name: vector_available :scalar
-- Whether search by meaning can run here: pgvector, and the passages' generated `vector` column (migration 0015's
-- ensure_passage_vectors(); added by `opentr embeddings rebuild` where pgvector came later). README: Search by
-- meaning.
SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'vector')
   AND EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'passages'::regclass
               AND attname = 'embedding_vector' AND NOT attisdropped);

-- name: vector_extension :scalar
-- Whether pgvector is in this database (the vectors' column and indexes may still be to make).
SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'vector');

-- name: ensure_vectors :scalar
-- Add the generated `vector` column where pgvector is and it is not (migration 0015); true when it is there.
SELECT ensure_passage_vectors();

-- name: index_exists :scalar
-- Whether a dimension's HNSW index is there already (`CREATE INDEX IF NOT EXISTS` would lock the table first).
SELECT to_regclass(%(name)s::text) IS NOT NULL;

-- Writing passages (the `embedding` job, workers/embed_job.py; repo/passages.py). A file's passages are replaced
-- whole, in one transaction, as the job acting for the file's owner: another transaction sees the old set or the
-- new one, never a mix or none. `model` is embeddings.models.model_name(settings) and `transcript_version` the
-- file's transcript_versions.version read before its segments (so a version never claims text newer than it).

-- name: source_version :one?
-- The file's transcript version (0: never written) and whether it waits for passages (completed); no row: the
-- acting user does not own the file (or it is gone).
SELECT f.id AS file_id, f.status, coalesce(v.version, 0) AS version
FROM media_files f
LEFT JOIN transcript_versions v ON v.media_file_id = f.id
WHERE f.id = %(file_id)s AND {{file_owned}};

-- name: source_segments :many
-- The segments passages are cut from, in time order (transcript.passages takes their text, times and speaker).
SELECT ts.start_time, ts.end_time, ts.text, sp.label AS speaker_label
FROM media_files f
JOIN transcript_segments ts ON ts.media_file_id = f.id
LEFT JOIN speakers sp ON sp.id = ts.speaker_id
WHERE f.id = %(file_id)s AND {{file_owned}}
ORDER BY ts.start_time, ts.end_time, ts.id;

-- name: reusable :many
-- The vectors the file's passages of this model already have, by text: a passage whose text did not change is
-- not embedded again (an edit of one segment re-embeds the one or two passages that hold it).
SELECT DISTINCT ON (p.text) p.text, p.embedding
FROM media_files f
JOIN passages p ON p.media_file_id = f.id
WHERE f.id = %(file_id)s AND {{file_owned}} AND p.model = %(model)s
ORDER BY p.text, p.position;

-- name: lock_file :exec
-- Replacements of one file's passages follow each other: a second job's DELETE must see the first one's rows
-- (under READ COMMITTED it would skip rows inserted after its snapshot, and its INSERT would collide).
SELECT pg_advisory_xact_lock(hashtextextended('opentr.passages:' || %(file_id)s::text, 0));

-- name: stored_version :one?
-- Under the file's lock: the file is still the acting user's (no row otherwise), with the newest transcript
-- version its passages of this model were cut from (NULL: none), so that a job that read an older transcript
-- does not overwrite a newer job's passages.
SELECT f.id AS file_id,
       (SELECT max(p.transcript_version) FROM passages p
        WHERE p.media_file_id = f.id AND p.model = %(model)s) AS version
FROM media_files f
WHERE f.id = %(file_id)s AND {{file_owned}};

-- name: delete_for_file :rowcount
DELETE FROM passages WHERE media_file_id = %(file_id)s;

-- name: copy :copy
-- Runs as the system (repo/statements.py Copy): every row is of the file `stored_version` found the actor's.
COPY passages (media_file_id, position, start_time, end_time, text, model, transcript_version, embedding) FROM STDIN;

-- name: for_file :many
-- A file's passages in order, for whoever may read the file.
SELECT p.position, p.start_time, p.end_time, p.text, p.model, p.transcript_version, p.embedding
FROM media_files f
JOIN passages p ON p.media_file_id = f.id
WHERE f.id = %(file_id)s AND {{file_readable}}
ORDER BY p.position;

-- name: stale_files :many
-- Completed files whose passages are missing (the file has segments), of another model, cut from an older
-- transcript, or left over (the file has no segments any more): what `opentr embeddings rebuild` queues. Read as
-- the system: it spans every user.
SELECT f.id AS file_id, f.user_id,
       CASE WHEN p.passages = 0 THEN 'missing'
            WHEN NOT s.has_segments THEN 'no transcript'
            WHEN p.other_models > 0 THEN 'another model'
            ELSE 'older transcript' END AS reason
FROM media_files f
LEFT JOIN transcript_versions v ON v.media_file_id = f.id
CROSS JOIN LATERAL (
    SELECT EXISTS (SELECT 1 FROM transcript_segments ts WHERE ts.media_file_id = f.id) AS has_segments
) s
CROSS JOIN LATERAL (
    SELECT count(*) AS passages,
           count(*) FILTER (WHERE p.model <> %(model)s) AS other_models,
           min(p.transcript_version) AS version
    FROM passages p WHERE p.media_file_id = f.id
) p
WHERE f.status = 'completed'
  AND (CASE WHEN p.passages = 0 THEN s.has_segments
            ELSE NOT s.has_segments OR p.other_models > 0 OR p.version < coalesce(v.version, 0) END)
ORDER BY f.id
LIMIT %(limit)s;

-- name: counts_by_model :many
-- Passages per model, for `opentr embeddings status` (as the system: every user's).
SELECT p.model, count(DISTINCT p.media_file_id) AS files, count(*) AS passages,
       min(cardinality(p.embedding)) AS dimensions
FROM passages p
GROUP BY p.model
ORDER BY p.model;

-- Queueing the `embedding` job (jobs/embeddings.py) without piling up: a file has at most one pending embedding
-- task. A pending task has not read the transcript yet, so it will see every edit committed before it starts.

-- name: lock_queue :exec
-- Two edits of one file at the same moment queue one task between them: the second waits here, then finds the
-- first one's task (READ COMMITTED: its next statement sees that commit).
SELECT pg_advisory_xact_lock(hashtextextended('opentr.embedding-queue:' || %(file_id)s::text, 0));

-- name: pending_task :one?
-- The file's pending task of the kind, locked: a job starting meanwhile (pending → in_progress) waits for this
-- transaction, so it reads the edit this transaction makes; one that started first is no longer pending here, and
-- a new task is queued.
SELECT t.id AS task_id
FROM tasks t
WHERE t.media_file_id = %(file_id)s AND t.task_type = %(task_type)s AND t.status = 'pending'
ORDER BY t.created_at, t.id
LIMIT 1
FOR UPDATE;

-- name: dead_runs :scalar
-- How many of the file's tasks of the kind ended because their worker died (recovery's count of attempts).
SELECT count(*) FROM tasks t
WHERE t.media_file_id = %(file_id)s AND t.task_type = %(task_type)s AND t.status = 'failed'
  AND t.error_message = %(dead_owner)s;

-- name: jobs_waiting :many
-- A file's passages as the subject of a kind of job (repo/jobs.py): its pending tasks (a task's file is deleted
-- with it).
SELECT t.id AS task_id, t.media_file_id AS subject_id
FROM tasks t
WHERE t.task_type = %(task_type)s AND t.status = 'pending' AND t.media_file_id IS NOT NULL
ORDER BY t.created_at, t.id
LIMIT %(limit)s;

-- name: jobs_claimed :many
SELECT t.id AS task_id, t.media_file_id AS subject_id
FROM tasks t
WHERE t.task_type = %(task_type)s AND t.status = 'in_progress'
ORDER BY t.id
LIMIT %(limit)s;

-- name: file_owner :one?
-- Whose file it is (an embedding task is its owner's, whoever edited); no row: gone, or not the actor's to see.
SELECT f.user_id FROM media_files f WHERE f.id = %(file_id)s;
