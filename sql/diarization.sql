-- Per-file speaker-count hints (given at upload) and what the diarization stage did (media_files columns).

-- name: set_hints :exec
UPDATE media_files
SET min_speakers = %(min_speakers)s, max_speakers = %(max_speakers)s, num_speakers = %(num_speakers)s
WHERE id = %(file_id)s;

-- name: hints :one
-- Workers only: the hints for the file they process.
SELECT min_speakers, max_speakers, num_speakers FROM media_files WHERE id = %(file_id)s;

-- name: set_outcome :exec
UPDATE media_files SET diarization = %(outcome)s WHERE id = %(file_id)s;
