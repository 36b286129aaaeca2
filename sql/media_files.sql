-- Media files. Every query on behalf of a user filters by the access rule (sql/fragments.sql: file_readable,
-- file_editable, file_owned); worker queries address a file by its internal id. State changes are guarded
-- UPDATEs: the status they may start from is a parameter (from_statuses), so two racing workers cannot both move
-- the same file.

-- fragment: media_file_columns
-- The MediaFile row: every column but waveform_data, which has its own query (`opentr db check` proves each query
-- that uses it matches the MediaFile row type).
id, uuid, user_id, filename, storage_path, file_size, content_type, file_hash, duration, language, title,
    author, description, source_url, is_public, status, upload_time, completed_at, media_format, codec, frame_rate,
    frame_count, resolution_width, resolution_height, aspect_ratio, audio_channels, audio_sample_rate,
    audio_bit_depth, creation_date, last_modified_date, device_make, device_model, metadata_raw, metadata_important,
    thumbnail_path, waveform_data IS NOT NULL AS has_waveform, active_task_id, task_started_at, task_last_update,
    progress, cancellation_requested, retry_count, max_retries, last_error_message, error_category,
    recovery_attempts, last_recovery_attempt, force_delete_eligible, summary_status, updated_at, warnings,
    language_probability, version

-- fragment: file_state_columns
-- The FileState row: where a file is in processing.
id, uuid, user_id, filename, status, progress, active_task_id, task_started_at, task_last_update,
    cancellation_requested, retry_count, max_retries, recovery_attempts, last_recovery_attempt, last_error_message,
    error_category, updated_at

-- name: create :one
INSERT INTO media_files (
    user_id, filename, storage_path, file_size, content_type, file_hash, title, author, description, language,
    source_url, is_public)
VALUES (
    %(user_id)s, %(filename)s, %(storage_path)s, %(file_size)s, %(content_type)s, %(file_hash)s, %(title)s,
    %(author)s, %(description)s, %(language)s, %(source_url)s, %(is_public)s)
RETURNING {{media_file_columns}};

-- name: find_duplicate :one?
-- The owner's newest file with the same content (sha256); other users' files never count.
SELECT {{media_file_columns}}
FROM media_files
WHERE user_id = %(user_id)s AND file_hash = %(file_hash)s
ORDER BY upload_time DESC, id DESC
LIMIT 1;

-- name: get :one
SELECT {{media_file_columns}}
FROM media_files f
WHERE f.uuid = %(uuid)s AND {{file_readable}};

-- name: get_by_id :one
-- Workers only: they act for the system and re-read the file by id inside their own transaction.
SELECT {{media_file_columns}}
FROM media_files
WHERE id = %(file_id)s;

-- name: state :one
SELECT {{file_state_columns}}
FROM media_files f
WHERE f.uuid = %(uuid)s AND {{file_readable}};

-- name: waveform :one
SELECT uuid, waveform_data
FROM media_files f
WHERE f.uuid = %(uuid)s AND {{file_readable}};

-- name: storage_path_for :one
SELECT storage_path, content_type, file_size, filename
FROM media_files f
WHERE f.uuid = %(uuid)s AND {{file_readable}};

-- name: detail :one
-- The file with its speakers, tags, collections and counts in one statement (correlated subqueries).
SELECT {{media_file_columns}},
    coalesce((
        SELECT json_agg(json_build_object(
                   'uuid', s.uuid, 'label', s.label, 'display_name', s.display_name, 'verified', s.verified)
               ORDER BY s.label)
        FROM speakers s WHERE s.media_file_id = f.id), '[]'::json) AS speakers,
    coalesce((
        SELECT array_agg(t.name ORDER BY t.name)
        FROM file_tags ft JOIN tags t ON t.id = ft.tag_id
        WHERE ft.media_file_id = f.id), '{}'::text[]) AS tags,
    coalesce((
        SELECT json_agg(json_build_object('uuid', c.uuid, 'name', c.name) ORDER BY c.name)
        FROM collection_members cm JOIN collections c ON c.id = cm.collection_id
        WHERE cm.media_file_id = f.id AND {{collection_readable}}),
        '[]'::json) AS collections,
    (SELECT count(*) FROM comments cc WHERE cc.media_file_id = f.id) AS comments_count,
    (SELECT count(*) FROM transcript_segments ts WHERE ts.media_file_id = f.id) AS segment_count
FROM media_files f
WHERE f.uuid = %(uuid)s AND {{file_readable}};

-- name: list_page :many
-- One page of the library, keyset-paginated on (sort key, id) in the chosen direction; the caller asks for
-- limit + 1 rows to learn whether another page follows. `pattern` is an already escaped ILIKE pattern, matched
-- against the filename, title, description and the file's topics (repo/topics.py).
-- The filter block (from `statuses` to `transcript`) is repo.library.LibraryFilter; search.search repeats it.
-- Titles sort as shown (the title, else the filename), files without a duration as 0 seconds.
SELECT f.id, f.uuid, f.user_id, f.filename, f.title, f.status, f.progress, f.duration, f.file_size,
    f.content_type, f.language, f.is_public, f.upload_time, f.completed_at, f.summary_status,
    coalesce((
        SELECT array_agg(t.name ORDER BY t.name)
        FROM file_tags ft JOIN tags t ON t.id = ft.tag_id
        WHERE ft.media_file_id = f.id), '{}'::text[]) AS tags,
    (SELECT count(*) FROM speakers s WHERE s.media_file_id = f.id) AS speaker_count,
    -- Not the segment count: counting 1,000 segments per file was most of the page's database time. Each
    -- transcript version has one count (repo/segment_counts.py keeps them), so the page names the version and
    -- the repository asks `segment_counts` only for versions it has not counted yet. A file without a version
    -- (no segment written since migration 0005) is counted here.
    (SELECT v.version FROM transcript_versions v WHERE v.media_file_id = f.id) AS transcript_version,
    -- (Not `NOT EXISTS`: the planner hashed it, a scan of every version per page.)
    CASE WHEN (SELECT v.version FROM transcript_versions v WHERE v.media_file_id = f.id) IS NULL
         THEN (SELECT count(*) FROM transcript_segments ts WHERE ts.media_file_id = f.id)
    END AS unversioned_segment_count,
    -- Whose file it is and what the actor may do with it (an admin in the all-files view: what an owner may), by
    -- the access fragments themselves. Their shared_files() subqueries are uncorrelated: each is computed once
    -- per query as a hashed set and probed for the page's rows only (a per-row lookup of the actor's shares cost
    -- 0.2 ms a row with 1,000 shared files).
    (SELECT coalesce(nullif(u.full_name, ''), u.email) FROM users u WHERE u.id = f.user_id) AS owner_name,
    CASE WHEN {{file_owned}} THEN 'owner'
         WHEN {{file_editable}} THEN 'editor'
         WHEN {{file_commentable}} THEN 'commenter'
         ELSE 'viewer'
    END AS my_role
FROM media_files f
WHERE {{file_readable}}
  AND (%(pattern)s::text IS NULL
       OR f.filename ILIKE %(pattern)s::text
       OR f.title ILIKE %(pattern)s::text
       OR f.description ILIKE %(pattern)s::text
       OR EXISTS (SELECT 1 FROM file_topics tp WHERE tp.media_file_id = f.id AND tp.label ILIKE %(pattern)s::text))
  -- filters
  AND {{library_filter}}
  -- the page
  AND (%(after_id)s::bigint IS NULL OR CASE
        WHEN %(sort)s::text = 'title' AND %(descending)s::boolean
            THEN (coalesce(f.title, f.filename), f.id) < (%(after_text)s::text, %(after_id)s::bigint)
        WHEN %(sort)s::text = 'title'
            THEN (coalesce(f.title, f.filename), f.id) > (%(after_text)s::text, %(after_id)s::bigint)
        WHEN %(sort)s::text = 'duration' AND %(descending)s::boolean
            THEN (coalesce(f.duration, 0), f.id) < (%(after_number)s::float8, %(after_id)s::bigint)
        WHEN %(sort)s::text = 'duration'
            THEN (coalesce(f.duration, 0), f.id) > (%(after_number)s::float8, %(after_id)s::bigint)
        WHEN %(descending)s::boolean
            THEN (f.upload_time, f.id) < (%(after_time)s::timestamptz, %(after_id)s::bigint)
        ELSE (f.upload_time, f.id) > (%(after_time)s::timestamptz, %(after_id)s::bigint)
      END)
ORDER BY
    CASE WHEN %(sort)s::text = 'title' AND %(descending)s::boolean THEN coalesce(f.title, f.filename) END DESC,
    CASE WHEN %(sort)s::text = 'title' AND NOT %(descending)s::boolean THEN coalesce(f.title, f.filename) END,
    CASE WHEN %(sort)s::text = 'duration' AND %(descending)s::boolean THEN coalesce(f.duration, 0) END DESC,
    CASE WHEN %(sort)s::text = 'duration' AND NOT %(descending)s::boolean THEN coalesce(f.duration, 0) END,
    CASE WHEN %(sort)s::text = 'upload_time' AND %(descending)s::boolean THEN f.upload_time END DESC,
    CASE WHEN %(sort)s::text = 'upload_time' AND NOT %(descending)s::boolean THEN f.upload_time END,
    CASE WHEN %(descending)s::boolean THEN f.id END DESC,
    CASE WHEN NOT %(descending)s::boolean THEN f.id END
LIMIT %(limit)s;

-- name: segment_counts :many
-- The segment count of each readable file in `ids` and the transcript version it belongs to, read in the same
-- snapshot (NULL for a file without a version: its count is not kept).
SELECT f.id AS media_file_id, f.uuid, v.version AS transcript_version,
    (SELECT count(*) FROM transcript_segments ts WHERE ts.media_file_id = f.id) AS segment_count
FROM media_files f
LEFT JOIN transcript_versions v ON v.media_file_id = f.id
WHERE f.id = ANY(%(ids)s::bigint[]) AND {{file_readable}};

-- name: update :one?
-- None leaves a field unchanged; an empty string clears a text field. The version counts these edits only (not
-- processing's updates of the row), and with `if_versions` (If-Match) is checked by this same statement: of two
-- editors who read the same version, the second one's UPDATE waits for the first one's row lock, then matches
-- nothing. No row: not the actor's file, or stale (the repository tells which).
UPDATE media_files f
SET title = CASE WHEN %(title)s::text IS NULL THEN title ELSE nullif(%(title)s::text, '') END,
    author = CASE WHEN %(author)s::text IS NULL THEN author ELSE nullif(%(author)s::text, '') END,
    description = CASE WHEN %(description)s::text IS NULL THEN description
                       ELSE nullif(%(description)s::text, '') END,
    language = CASE WHEN %(language)s::text IS NULL THEN language ELSE nullif(%(language)s::text, '') END,
    is_public = coalesce(%(is_public)s::boolean, is_public),
    version = version + 1
WHERE f.uuid = %(uuid)s AND {{file_editable}}
  AND (%(if_versions)s::int[] IS NULL OR f.version = ANY(%(if_versions)s::int[]))
RETURNING {{media_file_columns}};

-- name: delete :one?
-- One statement: segments, speakers, tags, comments, tasks, summaries... go with it through ON DELETE CASCADE.
DELETE FROM media_files f
WHERE f.uuid = %(uuid)s AND {{file_owned}}
RETURNING storage_path;

-- name: request_cancel :one?
-- A file nobody works on yet is cancelled at once; a running one is flagged and its job stops at the next check.
UPDATE media_files f
SET status = CASE WHEN status = 'processing' THEN 'cancelling' ELSE 'cancelled' END,
    cancellation_requested = (status = 'processing'),
    active_task_id = CASE WHEN status = 'processing' THEN active_task_id END
WHERE f.uuid = %(uuid)s AND {{file_editable}}
  AND status = ANY(%(from_statuses)s::text[])
RETURNING {{media_file_columns}};

-- name: retry :one?
UPDATE media_files f
SET status = 'pending', retry_count = retry_count + 1, progress = 0, completed_at = NULL, active_task_id = NULL,
    task_started_at = NULL, task_last_update = NULL, cancellation_requested = false, last_error_message = NULL,
    error_category = NULL
WHERE f.uuid = %(uuid)s AND {{file_editable}}
  AND status = ANY(%(from_statuses)s::text[]) AND retry_count < max_retries
RETURNING {{media_file_columns}};

-- name: reprocess :one?
-- A fresh start: the retry and recovery budgets are restored too, and a re-run of one stage that was left pending
-- (failed or cancelled: a retry would repeat it) is forgotten; a re-run of one stage sets its stage afterwards.
WITH whole_run AS (
    UPDATE processing_choices pc SET rerun_stage = NULL
    FROM media_files f
    WHERE pc.media_file_id = f.id AND f.uuid = %(uuid)s AND pc.rerun_stage IS NOT NULL
      AND {{file_editable}} AND f.status = ANY(%(from_statuses)s::text[])
)
UPDATE media_files f
SET status = 'pending', retry_count = 0, recovery_attempts = 0, progress = 0, completed_at = NULL,
    active_task_id = NULL, task_started_at = NULL, task_last_update = NULL, cancellation_requested = false,
    last_error_message = NULL, error_category = NULL
WHERE f.uuid = %(uuid)s AND {{file_editable}}
  AND status = ANY(%(from_statuses)s::text[])
RETURNING {{media_file_columns}};

-- name: stuck_for_actor :many
SELECT {{file_state_columns}}
FROM media_files f
WHERE {{file_readable}}
  AND status = ANY(%(statuses)s::text[])
  AND coalesce(task_last_update, task_started_at, updated_at)
      < now() - make_interval(secs => %(older_than_seconds)s::float8)
ORDER BY coalesce(task_last_update, task_started_at, updated_at), id
LIMIT %(limit)s;

-- name: access_rank :scalar
-- What the actor may do to a file (repo/access.py): 0 nothing (not even told it exists), 1 viewer, 2 commenter,
-- 3 editor, 4 owner. Asked only after a scoped write matched no row, to tell 404 from 403 from a stale version.
-- The file is named by its uuid or by the uuid of a row hanging off it (a speaker, a segment, a comment, a summary).
SELECT coalesce(max(CASE WHEN f.user_id = %(actor_id)s OR %(actor_sees_all)s::boolean THEN 4
                         ELSE (SELECT max(a.rank) FROM shared_files(%(actor_id)s) a WHERE a.media_file_id = f.id)
                    END), 0)::int AS rank
FROM media_files f
WHERE f.uuid = %(file_uuid)s::uuid OR f.id = %(file_id)s::bigint
   OR f.id = (SELECT sp.media_file_id FROM speakers sp WHERE sp.uuid = %(speaker_uuid)s::uuid)
   OR f.id = (SELECT ts.media_file_id FROM transcript_segments ts WHERE ts.uuid = %(segment_uuid)s::uuid)
   OR f.id = (SELECT c.media_file_id FROM comments c WHERE c.uuid = %(comment_uuid)s::uuid)
   OR f.id = (SELECT s.media_file_id FROM file_summaries s WHERE s.uuid = %(summary_uuid)s::uuid);

-- name: all_files :many
-- An admin's all-files view (GET /api/admin/files, the page /admin/files): every file the actor may read (all of
-- them in that view) with its owner, newest first, keyset on id; the caller asks for limit + 1 rows.
SELECT f.id, f.uuid, f.filename, f.title, f.status, f.duration, f.file_size, f.upload_time,
       u.uuid AS owner_uuid, u.email AS owner_email, u.full_name AS owner_name
FROM media_files f
JOIN users u ON u.id = f.user_id
WHERE {{file_readable}}
  AND (%(after_id)s::bigint IS NULL OR f.id < %(after_id)s::bigint)
ORDER BY f.id DESC
LIMIT %(limit)s;
