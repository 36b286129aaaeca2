-- name: lock_file_owner :scalar
-- The file's owner. The row lock makes two re-runs of the same file's transcript take turns instead of both
-- deleting the old rows and then colliding on the new ones.
SELECT user_id FROM media_files WHERE id = %(file_id)s FOR NO KEY UPDATE;

-- name: delete_for_file :rowcount
DELETE FROM transcript_segments WHERE media_file_id = %(file_id)s;

-- name: delete_unused_speakers :rowcount
-- Speakers whose label the new transcript no longer uses. The others are kept (with their names, profile and
-- matches) because the new segments need them.
DELETE FROM speakers WHERE media_file_id = %(file_id)s AND label <> ALL(%(labels)s::text[]);

-- name: ensure_speakers :many
-- One speaker per label: the existing row when there is one, a new row otherwise.
WITH wanted AS (
    SELECT DISTINCT unnest(%(labels)s::text[]) AS label
), inserted AS (
    INSERT INTO speakers (media_file_id, user_id, label)
    SELECT %(file_id)s, %(user_id)s, label FROM wanted
    ON CONFLICT (media_file_id, label) DO NOTHING
    RETURNING id, label
)
SELECT id, label FROM inserted
UNION ALL
SELECT s.id, s.label FROM speakers s JOIN wanted w ON w.label = s.label WHERE s.media_file_id = %(file_id)s;

-- name: copy_segments :copy
COPY transcript_segments (media_file_id, speaker_id, start_time, end_time, text, words) FROM STDIN;

-- name: file_visible :scalar
SELECT EXISTS (
    SELECT 1 FROM media_files
    WHERE uuid = %(file_uuid)s AND (user_id = %(actor_id)s OR %(actor_is_admin)s::boolean)
) AS visible;

-- name: transcript :many
-- The whole transcript in time order with each segment's speaker, in one query.
SELECT ts.uuid, ts.start_time, ts.end_time, ts.text, ts.words,
       sp.uuid AS speaker_uuid, sp.label AS speaker_label, coalesce(sp.display_name, sp.label) AS speaker_name
FROM media_files f
JOIN transcript_segments ts ON ts.media_file_id = f.id
LEFT JOIN speakers sp ON sp.id = ts.speaker_id
WHERE f.uuid = %(file_uuid)s AND (f.user_id = %(actor_id)s OR %(actor_is_admin)s::boolean)
ORDER BY ts.start_time, ts.end_time, ts.id;

-- name: transcript_json :one?
-- The same transcript as the API's JSON array, built by PostgreSQL: a long transcript's word timings then never
-- become Python objects only to be encoded again (the transcript route's cost, bench/README.md). No row: the file
-- is not the actor's.
SELECT coalesce((
           SELECT json_agg(json_build_object(
                      'uuid', ts.uuid, 'start_time', ts.start_time, 'end_time', ts.end_time, 'text', ts.text,
                      'words', ts.words, 'speaker_uuid', sp.uuid, 'speaker_label', sp.label,
                      'speaker_name', coalesce(sp.display_name, sp.label))
                  ORDER BY ts.start_time, ts.end_time, ts.id)
           FROM transcript_segments ts LEFT JOIN speakers sp ON sp.id = ts.speaker_id
           WHERE ts.media_file_id = f.id), '[]'::json)::text AS body
FROM media_files f
WHERE f.uuid = %(file_uuid)s AND (f.user_id = %(actor_id)s OR %(actor_is_admin)s::boolean);

-- name: resolve_speaker :one
-- The segment the actor may edit, its times and its file's duration (the bounds of an edit), and the named
-- speaker's id when that speaker belongs to the same file.
SELECT ts.id AS segment_id, sp.id AS speaker_id, ts.start_time, ts.end_time, f.duration
FROM media_files f
JOIN transcript_segments ts ON ts.media_file_id = f.id
LEFT JOIN speakers sp ON sp.media_file_id = f.id AND sp.uuid = %(speaker_uuid)s
WHERE f.uuid = %(file_uuid)s AND ts.uuid = %(segment_uuid)s
  AND (f.user_id = %(actor_id)s OR %(actor_is_admin)s::boolean);

-- name: update :one
WITH updated AS (
    UPDATE transcript_segments ts
    SET text = coalesce(%(text)s::text, ts.text),
        speaker_id = coalesce(%(speaker_id)s::bigint, ts.speaker_id),
        start_time = coalesce(%(start_time)s::float8, ts.start_time),
        end_time = coalesce(%(end_time)s::float8, ts.end_time)
    FROM media_files f
    WHERE f.id = ts.media_file_id AND f.uuid = %(file_uuid)s AND ts.uuid = %(segment_uuid)s
      AND (f.user_id = %(actor_id)s OR %(actor_is_admin)s::boolean)
    RETURNING ts.uuid, ts.start_time, ts.end_time, ts.text, ts.words, ts.speaker_id
)
SELECT u.uuid, u.start_time, u.end_time, u.text, u.words,
       sp.uuid AS speaker_uuid, sp.label AS speaker_label, coalesce(sp.display_name, sp.label) AS speaker_name
FROM updated u
LEFT JOIN speakers sp ON sp.id = u.speaker_id;

-- name: count_for_file :scalar
SELECT count(*) FROM transcript_segments WHERE media_file_id = %(file_id)s;
