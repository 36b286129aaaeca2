-- Media files. Every query on behalf of a user filters by owner (admins see all); worker queries address a file
-- by its internal id. State changes are guarded UPDATEs: the status they may start from is a parameter
-- (from_statuses), so two racing workers cannot both move the same file.
-- The MediaFile column list (every column but waveform_data, which has its own query) recurs below on purpose:
-- `opentr db check` proves each copy matches the MediaFile row type.

-- name: create :one
INSERT INTO media_files (
    user_id, filename, storage_path, file_size, content_type, file_hash, title, author, description, language,
    source_url, is_public)
VALUES (
    %(user_id)s, %(filename)s, %(storage_path)s, %(file_size)s, %(content_type)s, %(file_hash)s, %(title)s,
    %(author)s, %(description)s, %(language)s, %(source_url)s, %(is_public)s)
RETURNING id, uuid, user_id, filename, storage_path, file_size, content_type, file_hash, duration, language, title,
    author, description, source_url, is_public, status, upload_time, completed_at, media_format, codec, frame_rate,
    frame_count, resolution_width, resolution_height, aspect_ratio, audio_channels, audio_sample_rate,
    audio_bit_depth, creation_date, last_modified_date, device_make, device_model, metadata_raw, metadata_important,
    thumbnail_path, waveform_data IS NOT NULL AS has_waveform, active_task_id, task_started_at, task_last_update,
    progress, cancellation_requested, retry_count, max_retries, last_error_message, error_category,
    recovery_attempts, last_recovery_attempt, force_delete_eligible, summary_status, updated_at;

-- name: find_duplicate :one?
-- The owner's newest file with the same content (sha256); other users' files never count.
SELECT id, uuid, user_id, filename, storage_path, file_size, content_type, file_hash, duration, language, title,
    author, description, source_url, is_public, status, upload_time, completed_at, media_format, codec, frame_rate,
    frame_count, resolution_width, resolution_height, aspect_ratio, audio_channels, audio_sample_rate,
    audio_bit_depth, creation_date, last_modified_date, device_make, device_model, metadata_raw, metadata_important,
    thumbnail_path, waveform_data IS NOT NULL AS has_waveform, active_task_id, task_started_at, task_last_update,
    progress, cancellation_requested, retry_count, max_retries, last_error_message, error_category,
    recovery_attempts, last_recovery_attempt, force_delete_eligible, summary_status, updated_at
FROM media_files
WHERE user_id = %(user_id)s AND file_hash = %(file_hash)s
ORDER BY upload_time DESC, id DESC
LIMIT 1;

-- name: get :one
SELECT id, uuid, user_id, filename, storage_path, file_size, content_type, file_hash, duration, language, title,
    author, description, source_url, is_public, status, upload_time, completed_at, media_format, codec, frame_rate,
    frame_count, resolution_width, resolution_height, aspect_ratio, audio_channels, audio_sample_rate,
    audio_bit_depth, creation_date, last_modified_date, device_make, device_model, metadata_raw, metadata_important,
    thumbnail_path, waveform_data IS NOT NULL AS has_waveform, active_task_id, task_started_at, task_last_update,
    progress, cancellation_requested, retry_count, max_retries, last_error_message, error_category,
    recovery_attempts, last_recovery_attempt, force_delete_eligible, summary_status, updated_at
FROM media_files
WHERE uuid = %(uuid)s AND (user_id = %(actor_id)s OR %(actor_is_admin)s::boolean);

-- name: get_by_id :one
-- Workers only: they act for the system and re-read the file by id inside their own transaction.
SELECT id, uuid, user_id, filename, storage_path, file_size, content_type, file_hash, duration, language, title,
    author, description, source_url, is_public, status, upload_time, completed_at, media_format, codec, frame_rate,
    frame_count, resolution_width, resolution_height, aspect_ratio, audio_channels, audio_sample_rate,
    audio_bit_depth, creation_date, last_modified_date, device_make, device_model, metadata_raw, metadata_important,
    thumbnail_path, waveform_data IS NOT NULL AS has_waveform, active_task_id, task_started_at, task_last_update,
    progress, cancellation_requested, retry_count, max_retries, last_error_message, error_category,
    recovery_attempts, last_recovery_attempt, force_delete_eligible, summary_status, updated_at
FROM media_files
WHERE id = %(file_id)s;

-- name: state :one
SELECT id, uuid, user_id, filename, status, progress, active_task_id, task_started_at, task_last_update,
    cancellation_requested, retry_count, max_retries, recovery_attempts, last_recovery_attempt, last_error_message,
    error_category, updated_at
FROM media_files
WHERE uuid = %(uuid)s AND (user_id = %(actor_id)s OR %(actor_is_admin)s::boolean);

-- name: waveform :one
SELECT uuid, waveform_data
FROM media_files
WHERE uuid = %(uuid)s AND (user_id = %(actor_id)s OR %(actor_is_admin)s::boolean);

-- name: storage_path_for :one
SELECT storage_path, content_type, file_size, filename
FROM media_files
WHERE uuid = %(uuid)s AND (user_id = %(actor_id)s OR %(actor_is_admin)s::boolean);

-- name: detail :one
-- The file with its speakers, tags, collections and counts in one statement (correlated subqueries).
SELECT id, uuid, user_id, filename, storage_path, file_size, content_type, file_hash, duration, language, title,
    author, description, source_url, is_public, status, upload_time, completed_at, media_format, codec, frame_rate,
    frame_count, resolution_width, resolution_height, aspect_ratio, audio_channels, audio_sample_rate,
    audio_bit_depth, creation_date, last_modified_date, device_make, device_model, metadata_raw, metadata_important,
    thumbnail_path, waveform_data IS NOT NULL AS has_waveform, active_task_id, task_started_at, task_last_update,
    progress, cancellation_requested, retry_count, max_retries, last_error_message, error_category,
    recovery_attempts, last_recovery_attempt, force_delete_eligible, summary_status, updated_at,
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
        WHERE cm.media_file_id = f.id AND (c.user_id = %(actor_id)s OR %(actor_is_admin)s::boolean)),
        '[]'::json) AS collections,
    (SELECT count(*) FROM comments cc WHERE cc.media_file_id = f.id) AS comments_count,
    (SELECT count(*) FROM transcript_segments ts WHERE ts.media_file_id = f.id) AS segment_count
FROM media_files f
WHERE f.uuid = %(uuid)s AND (f.user_id = %(actor_id)s OR %(actor_is_admin)s::boolean);

-- name: list_page :many
-- One page of the file list, newest first, keyset on (upload_time, id); the caller asks for limit + 1 rows to
-- learn whether another page follows. `pattern` is an already escaped ILIKE pattern. The date range is half-open.
SELECT f.id, f.uuid, f.user_id, f.filename, f.title, f.status, f.progress, f.duration, f.file_size,
    f.content_type, f.language, f.is_public, f.upload_time, f.completed_at, f.summary_status,
    coalesce((
        SELECT array_agg(t.name ORDER BY t.name)
        FROM file_tags ft JOIN tags t ON t.id = ft.tag_id
        WHERE ft.media_file_id = f.id), '{}'::text[]) AS tags,
    (SELECT count(*) FROM speakers s WHERE s.media_file_id = f.id) AS speaker_count,
    (SELECT count(*) FROM transcript_segments ts WHERE ts.media_file_id = f.id) AS segment_count
FROM media_files f
WHERE (f.user_id = %(actor_id)s OR %(actor_is_admin)s::boolean)
  AND (%(status)s::text IS NULL OR f.status = %(status)s::text)
  AND (%(tag)s::text IS NULL OR EXISTS (
        SELECT 1 FROM file_tags ft JOIN tags t ON t.id = ft.tag_id
        WHERE ft.media_file_id = f.id AND t.name = %(tag)s::text))
  AND (%(collection)s::uuid IS NULL OR EXISTS (
        SELECT 1 FROM collection_members cm JOIN collections c ON c.id = cm.collection_id
        WHERE cm.media_file_id = f.id AND c.uuid = %(collection)s::uuid
          AND (c.user_id = %(actor_id)s OR %(actor_is_admin)s::boolean)))
  AND (%(pattern)s::text IS NULL
       OR f.filename ILIKE %(pattern)s::text
       OR f.title ILIKE %(pattern)s::text
       OR f.description ILIKE %(pattern)s::text)
  AND (%(uploaded_from)s::timestamptz IS NULL OR f.upload_time >= %(uploaded_from)s::timestamptz)
  AND (%(uploaded_to)s::timestamptz IS NULL OR f.upload_time < %(uploaded_to)s::timestamptz)
  AND (%(after_time)s::timestamptz IS NULL
       OR (f.upload_time, f.id) < (%(after_time)s::timestamptz, %(after_id)s::bigint))
ORDER BY f.upload_time DESC, f.id DESC
LIMIT %(limit)s;

-- name: update :one
-- None leaves a field unchanged; an empty string clears a text field.
UPDATE media_files
SET title = CASE WHEN %(title)s::text IS NULL THEN title ELSE nullif(%(title)s::text, '') END,
    author = CASE WHEN %(author)s::text IS NULL THEN author ELSE nullif(%(author)s::text, '') END,
    description = CASE WHEN %(description)s::text IS NULL THEN description
                       ELSE nullif(%(description)s::text, '') END,
    language = CASE WHEN %(language)s::text IS NULL THEN language ELSE nullif(%(language)s::text, '') END,
    is_public = coalesce(%(is_public)s::boolean, is_public)
WHERE uuid = %(uuid)s AND (user_id = %(actor_id)s OR %(actor_is_admin)s::boolean)
RETURNING id, uuid, user_id, filename, storage_path, file_size, content_type, file_hash, duration, language, title,
    author, description, source_url, is_public, status, upload_time, completed_at, media_format, codec, frame_rate,
    frame_count, resolution_width, resolution_height, aspect_ratio, audio_channels, audio_sample_rate,
    audio_bit_depth, creation_date, last_modified_date, device_make, device_model, metadata_raw, metadata_important,
    thumbnail_path, waveform_data IS NOT NULL AS has_waveform, active_task_id, task_started_at, task_last_update,
    progress, cancellation_requested, retry_count, max_retries, last_error_message, error_category,
    recovery_attempts, last_recovery_attempt, force_delete_eligible, summary_status, updated_at;

-- name: delete :one
-- One statement: segments, speakers, tags, comments, tasks, summaries... go with it through ON DELETE CASCADE.
DELETE FROM media_files
WHERE uuid = %(uuid)s AND (user_id = %(actor_id)s OR %(actor_is_admin)s::boolean)
RETURNING storage_path;

-- name: set_metadata :rowcount
-- Technical metadata found by the worker; None leaves a column unchanged.
UPDATE media_files
SET duration = coalesce(%(duration)s::float8, duration),
    language = coalesce(%(language)s::text, language),
    media_format = coalesce(%(media_format)s::text, media_format),
    codec = coalesce(%(codec)s::text, codec),
    frame_rate = coalesce(%(frame_rate)s::float8, frame_rate),
    frame_count = coalesce(%(frame_count)s::bigint, frame_count),
    resolution_width = coalesce(%(resolution_width)s::integer, resolution_width),
    resolution_height = coalesce(%(resolution_height)s::integer, resolution_height),
    aspect_ratio = coalesce(%(aspect_ratio)s::text, aspect_ratio),
    audio_channels = coalesce(%(audio_channels)s::integer, audio_channels),
    audio_sample_rate = coalesce(%(audio_sample_rate)s::integer, audio_sample_rate),
    audio_bit_depth = coalesce(%(audio_bit_depth)s::integer, audio_bit_depth),
    creation_date = coalesce(%(creation_date)s::timestamptz, creation_date),
    last_modified_date = coalesce(%(last_modified_date)s::timestamptz, last_modified_date),
    device_make = coalesce(%(device_make)s::text, device_make),
    device_model = coalesce(%(device_model)s::text, device_model),
    metadata_raw = coalesce(%(metadata_raw)s::jsonb, metadata_raw),
    metadata_important = coalesce(%(metadata_important)s::jsonb, metadata_important),
    waveform_data = coalesce(%(waveform_data)s::jsonb, waveform_data),
    thumbnail_path = coalesce(%(thumbnail_path)s::text, thumbnail_path)
WHERE id = %(file_id)s;

-- name: set_summary_status :rowcount
UPDATE media_files SET summary_status = %(summary_status)s::text WHERE id = %(file_id)s;

-- name: mark_queued :one?
UPDATE media_files
SET status = 'queued', active_task_id = %(task_id)s::text
WHERE id = %(file_id)s AND status = ANY(%(from_statuses)s::text[])
RETURNING id, uuid, user_id, filename, status, progress, active_task_id, task_started_at, task_last_update,
    cancellation_requested, retry_count, max_retries, recovery_attempts, last_recovery_attempt, last_error_message,
    error_category, updated_at;

-- name: start_processing :one?
-- A file queued for one job cannot be taken by another.
UPDATE media_files
SET status = 'processing', active_task_id = %(task_id)s::text, task_started_at = now(), task_last_update = now(),
    progress = 0, cancellation_requested = false, completed_at = NULL, last_error_message = NULL,
    error_category = NULL
WHERE id = %(file_id)s AND status = ANY(%(from_statuses)s::text[])
  AND (active_task_id IS NULL OR active_task_id = %(task_id)s::text)
RETURNING id, uuid, user_id, filename, status, progress, active_task_id, task_started_at, task_last_update,
    cancellation_requested, retry_count, max_retries, recovery_attempts, last_recovery_attempt, last_error_message,
    error_category, updated_at;

-- name: update_progress :one?
-- Only the job that owns the file may report; the answer tells it whether the user asked to cancel.
UPDATE media_files
SET progress = %(progress)s::real, task_last_update = now()
WHERE id = %(file_id)s AND active_task_id = %(task_id)s::text AND status = ANY(%(from_statuses)s::text[])
RETURNING cancellation_requested;

-- name: complete :one?
UPDATE media_files
SET status = 'completed', progress = 1, completed_at = now(), active_task_id = NULL, task_last_update = now(),
    cancellation_requested = false
WHERE id = %(file_id)s AND active_task_id = %(task_id)s::text AND status = ANY(%(from_statuses)s::text[])
RETURNING id, uuid, user_id, filename, status, progress, active_task_id, task_started_at, task_last_update,
    cancellation_requested, retry_count, max_retries, recovery_attempts, last_recovery_attempt, last_error_message,
    error_category, updated_at;

-- name: fail :one?
UPDATE media_files
SET status = 'error', last_error_message = %(message)s::text, error_category = %(category)s::text,
    active_task_id = NULL, task_last_update = now(), cancellation_requested = false
WHERE id = %(file_id)s AND status = ANY(%(from_statuses)s::text[])
  AND (active_task_id IS NULL OR active_task_id = %(task_id)s::text)
RETURNING id, uuid, user_id, filename, status, progress, active_task_id, task_started_at, task_last_update,
    cancellation_requested, retry_count, max_retries, recovery_attempts, last_recovery_attempt, last_error_message,
    error_category, updated_at;

-- name: finish_cancel :one?
UPDATE media_files
SET status = 'cancelled', active_task_id = NULL, cancellation_requested = false, task_last_update = now()
WHERE id = %(file_id)s AND status = ANY(%(from_statuses)s::text[])
RETURNING id, uuid, user_id, filename, status, progress, active_task_id, task_started_at, task_last_update,
    cancellation_requested, retry_count, max_retries, recovery_attempts, last_recovery_attempt, last_error_message,
    error_category, updated_at;

-- name: record_recovery :one?
UPDATE media_files
SET status = 'pending', recovery_attempts = recovery_attempts + 1, last_recovery_attempt = now(),
    active_task_id = NULL, cancellation_requested = false, progress = 0
WHERE id = %(file_id)s AND status = ANY(%(from_statuses)s::text[])
RETURNING id, uuid, user_id, filename, status, progress, active_task_id, task_started_at, task_last_update,
    cancellation_requested, retry_count, max_retries, recovery_attempts, last_recovery_attempt, last_error_message,
    error_category, updated_at;

-- name: request_cancel :one?
-- A file nobody works on yet is cancelled at once; a running one is flagged and its job stops at the next check.
UPDATE media_files
SET status = CASE WHEN status = 'processing' THEN 'cancelling' ELSE 'cancelled' END,
    cancellation_requested = (status = 'processing'),
    active_task_id = CASE WHEN status = 'processing' THEN active_task_id END
WHERE uuid = %(uuid)s AND (user_id = %(actor_id)s OR %(actor_is_admin)s::boolean)
  AND status = ANY(%(from_statuses)s::text[])
RETURNING id, uuid, user_id, filename, storage_path, file_size, content_type, file_hash, duration, language, title,
    author, description, source_url, is_public, status, upload_time, completed_at, media_format, codec, frame_rate,
    frame_count, resolution_width, resolution_height, aspect_ratio, audio_channels, audio_sample_rate,
    audio_bit_depth, creation_date, last_modified_date, device_make, device_model, metadata_raw, metadata_important,
    thumbnail_path, waveform_data IS NOT NULL AS has_waveform, active_task_id, task_started_at, task_last_update,
    progress, cancellation_requested, retry_count, max_retries, last_error_message, error_category,
    recovery_attempts, last_recovery_attempt, force_delete_eligible, summary_status, updated_at;

-- name: retry :one?
UPDATE media_files
SET status = 'pending', retry_count = retry_count + 1, progress = 0, completed_at = NULL, active_task_id = NULL,
    task_started_at = NULL, task_last_update = NULL, cancellation_requested = false, last_error_message = NULL,
    error_category = NULL
WHERE uuid = %(uuid)s AND (user_id = %(actor_id)s OR %(actor_is_admin)s::boolean)
  AND status = ANY(%(from_statuses)s::text[]) AND retry_count < max_retries
RETURNING id, uuid, user_id, filename, storage_path, file_size, content_type, file_hash, duration, language, title,
    author, description, source_url, is_public, status, upload_time, completed_at, media_format, codec, frame_rate,
    frame_count, resolution_width, resolution_height, aspect_ratio, audio_channels, audio_sample_rate,
    audio_bit_depth, creation_date, last_modified_date, device_make, device_model, metadata_raw, metadata_important,
    thumbnail_path, waveform_data IS NOT NULL AS has_waveform, active_task_id, task_started_at, task_last_update,
    progress, cancellation_requested, retry_count, max_retries, last_error_message, error_category,
    recovery_attempts, last_recovery_attempt, force_delete_eligible, summary_status, updated_at;

-- name: reprocess :one?
-- A fresh start: the retry and recovery budgets are restored too.
UPDATE media_files
SET status = 'pending', retry_count = 0, recovery_attempts = 0, progress = 0, completed_at = NULL,
    active_task_id = NULL, task_started_at = NULL, task_last_update = NULL, cancellation_requested = false,
    last_error_message = NULL, error_category = NULL
WHERE uuid = %(uuid)s AND (user_id = %(actor_id)s OR %(actor_is_admin)s::boolean)
  AND status = ANY(%(from_statuses)s::text[])
RETURNING id, uuid, user_id, filename, storage_path, file_size, content_type, file_hash, duration, language, title,
    author, description, source_url, is_public, status, upload_time, completed_at, media_format, codec, frame_rate,
    frame_count, resolution_width, resolution_height, aspect_ratio, audio_channels, audio_sample_rate,
    audio_bit_depth, creation_date, last_modified_date, device_make, device_model, metadata_raw, metadata_important,
    thumbnail_path, waveform_data IS NOT NULL AS has_waveform, active_task_id, task_started_at, task_last_update,
    progress, cancellation_requested, retry_count, max_retries, last_error_message, error_category,
    recovery_attempts, last_recovery_attempt, force_delete_eligible, summary_status, updated_at;

-- name: stuck :many
-- For the recovery worker: running files whose job has not reported for a while, longest silent first.
SELECT id, uuid, user_id, filename, status, progress, active_task_id, task_started_at, task_last_update,
    cancellation_requested, retry_count, max_retries, recovery_attempts, last_recovery_attempt, last_error_message,
    error_category, updated_at
FROM media_files
WHERE status = ANY(%(statuses)s::text[])
  AND coalesce(task_last_update, task_started_at, updated_at)
      < now() - make_interval(secs => %(older_than_seconds)s::float8)
ORDER BY coalesce(task_last_update, task_started_at, updated_at), id
LIMIT %(limit)s;

-- name: stuck_for_actor :many
SELECT id, uuid, user_id, filename, status, progress, active_task_id, task_started_at, task_last_update,
    cancellation_requested, retry_count, max_retries, recovery_attempts, last_recovery_attempt, last_error_message,
    error_category, updated_at
FROM media_files
WHERE (user_id = %(actor_id)s OR %(actor_is_admin)s::boolean)
  AND status = ANY(%(statuses)s::text[])
  AND coalesce(task_last_update, task_started_at, updated_at)
      < now() - make_interval(secs => %(older_than_seconds)s::float8)
ORDER BY coalesce(task_last_update, task_started_at, updated_at), id
LIMIT %(limit)s;

-- name: storage_inventory :many
-- For the cleanup job: every stored file, to compare with what is on disk.
SELECT id, storage_path, status FROM media_files ORDER BY id;

-- name: mark_orphaned :rowcount
-- Rows whose media vanished from storage: kept (with their transcript), but marked so nobody waits on them.
UPDATE media_files
SET status = 'orphaned', active_task_id = NULL, last_error_message = 'the stored media file is missing',
    error_category = 'storage'
WHERE id = ANY(%(ids)s::bigint[]) AND status <> 'orphaned';
