-- The processing state machine as workers drive it: every transition is one UPDATE guarded by the current
-- status (and the job that owns the file), so two racing workers cannot both move a file.

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

-- name: storage_inventory :many
-- For the cleanup job: every stored file, to compare with what is on disk.
SELECT id, storage_path, status FROM media_files ORDER BY id;

-- name: mark_orphaned :rowcount
-- Rows whose media vanished from storage: kept (with their transcript), but marked so nobody waits on them.
UPDATE media_files
SET status = 'orphaned', active_task_id = NULL, last_error_message = 'the stored media file is missing',
    error_category = 'storage'
WHERE id = ANY(%(ids)s::bigint[]) AND status <> 'orphaned';

-- name: lock_state :one?
-- Recovery's first statement about a file: its row lock comes before the task's (the lock order in sql/jobs.sql).
SELECT id, uuid, user_id, filename, status, progress, active_task_id, task_started_at, task_last_update,
    cancellation_requested, retry_count, max_retries, recovery_attempts, last_recovery_attempt, last_error_message,
    error_category, updated_at
FROM media_files
WHERE id = %(file_id)s
FOR UPDATE;

-- name: set_language :rowcount
-- The language the speech engine used, and how sure it was (NULL when the language was given, not detected).
UPDATE media_files SET language = %(language)s::text, language_probability = %(probability)s::real
WHERE id = %(file_id)s;

-- name: set_warnings :rowcount
-- What the user should know about the transcript just published; replaces the previous list ({} clears it).
UPDATE media_files SET warnings = %(warnings)s::text[]
WHERE id = %(file_id)s;

-- name: jobs_waiting :many
-- A media file as the subject of a kind of job (repo/jobs.py): pending tasks of the kind whose file is queued for
-- exactly that task.
SELECT t.id AS task_id, m.id AS subject_id
FROM tasks t
JOIN media_files m ON m.id = t.media_file_id AND m.active_task_id = t.id
WHERE t.task_type = %(task_type)s AND t.status = 'pending' AND m.status = 'queued'
ORDER BY t.created_at, t.id
LIMIT %(limit)s;

-- name: jobs_claimed :many
-- The kind's tasks in progress, and files running or cancelling under one of its tasks (whatever that task's
-- status says: the file is what waits for an owner).
SELECT t.id AS task_id, t.media_file_id AS subject_id
FROM tasks t
WHERE t.task_type = %(task_type)s AND t.status = 'in_progress'
UNION
SELECT t.id, m.id
FROM media_files m
JOIN tasks t ON t.id = m.active_task_id
WHERE m.status IN ('processing', 'cancelling') AND t.task_type = %(task_type)s
ORDER BY 1
LIMIT %(limit)s;
