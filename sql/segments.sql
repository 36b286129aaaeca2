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
-- Binary. The id comes from the column's sequence, row after row in the order sent (see new_ids); the uuid from
-- the writer (repo/segments.py new_uuids), in place of gen_random_uuid() per row.
COPY transcript_segments (media_file_id, speaker_id, start_time, end_time, text, uuid) FROM STDIN (FORMAT BINARY);

-- name: new_ids :many
-- The ids a replacement's COPY just gave, in the order its rows were sent: the file is locked and its old segments
-- deleted in the same transaction, so each of its segments is one of them, and one session's nextval only grows.
SELECT id FROM transcript_segments WHERE media_file_id = %(file_id)s ORDER BY id;

-- name: copy_words :copy
COPY segment_words (segment_id, words) FROM STDIN (FORMAT BINARY);

-- name: file_visible :scalar
SELECT EXISTS (
    SELECT 1 FROM media_files f
    WHERE f.uuid = %(file_uuid)s AND {{file_readable}}
) AS visible;

-- name: transcript :many
-- The whole transcript in time order with each segment's speaker, in one query.
SELECT ts.uuid, ts.start_time, ts.end_time, ts.text, sw.words,
       sp.uuid AS speaker_uuid, sp.label AS speaker_label, coalesce(sp.display_name, sp.label) AS speaker_name,
       ts.version
FROM media_files f
JOIN transcript_segments ts ON ts.media_file_id = f.id
LEFT JOIN segment_words sw ON sw.segment_id = ts.id
LEFT JOIN speakers sp ON sp.id = ts.speaker_id
WHERE f.uuid = %(file_uuid)s AND {{file_readable}}
ORDER BY ts.start_time, ts.end_time, ts.id;

-- name: transcript_version :one?
-- What the transcript route's ETag says, without reading a segment. No row: the actor cannot see the file.
SELECT f.id AS file_id, coalesce(v.version, 0) AS version
FROM media_files f
LEFT JOIN transcript_versions v ON v.media_file_id = f.id
WHERE f.uuid = %(file_uuid)s AND {{file_readable}};

-- name: transcript_json :one?
-- The transcript (or the segments overlapping [from_time, to_time)) as the API's JSON array, built by PostgreSQL
-- in the same snapshot as the version it belongs to. Assembled as text: the words are stored `json`, copied as
-- they are, and the separators are compact (json_build_object writes `"key" : value`, 11 % more bytes).
-- No row: the actor cannot see the file.
SELECT f.id AS file_id, coalesce(v.version, 0) AS version, coalesce((
           SELECT '[' || string_agg(
                      '{"uuid":"' || ts.uuid::text
                      || '","start_time":' || ts.start_time::text
                      || ',"end_time":' || ts.end_time::text
                      || ',"text":' || to_json(ts.text)::text
                      || ',"words":' || coalesce(sw.words::text, 'null')
                      || ',"speaker_uuid":' || coalesce('"' || sp.uuid::text || '"', 'null')
                      || ',"speaker_label":' || coalesce(to_json(sp.label)::text, 'null')
                      || ',"speaker_name":' || coalesce(to_json(coalesce(sp.display_name, sp.label))::text, 'null')
                      || ',"version":' || ts.version::text
                      || '}', ',' ORDER BY ts.start_time, ts.end_time, ts.id) || ']'
           FROM transcript_segments ts
           LEFT JOIN segment_words sw ON sw.segment_id = ts.id
           LEFT JOIN speakers sp ON sp.id = ts.speaker_id
           WHERE ts.media_file_id = f.id
             AND ts.end_time >= coalesce(%(from_time)s::float8, '-infinity')
             AND ts.start_time < coalesce(%(to_time)s::float8, 'infinity')), '[]') AS body
FROM media_files f
LEFT JOIN transcript_versions v ON v.media_file_id = f.id
WHERE f.uuid = %(file_uuid)s AND {{file_readable}};

-- name: resolve_speaker :one?
-- The segment the actor may edit, its times and its file's duration (the bounds of an edit), and the named
-- speaker's id when that speaker belongs to the same file.
SELECT ts.id AS segment_id, sp.id AS speaker_id, ts.start_time, ts.end_time, f.duration
FROM media_files f
JOIN transcript_segments ts ON ts.media_file_id = f.id
LEFT JOIN speakers sp ON sp.media_file_id = f.id AND sp.uuid = %(speaker_uuid)s
WHERE f.uuid = %(file_uuid)s AND ts.uuid = %(segment_uuid)s
  AND {{file_editable}};

-- name: update :one?
-- The check and the write in one statement: with `if_versions` (If-Match) the row is updated only while its
-- version is one of them. A concurrent editor's UPDATE waits for this one's row lock, then re-checks the bumped
-- version and matches nothing. No row: not the actor's segment, or stale (the repository tells which).
WITH updated AS (
    UPDATE transcript_segments ts
    SET text = coalesce(%(text)s::text, ts.text),
        speaker_id = coalesce(%(speaker_id)s::bigint, ts.speaker_id),
        start_time = coalesce(%(start_time)s::float8, ts.start_time),
        end_time = coalesce(%(end_time)s::float8, ts.end_time),
        version = ts.version + 1
    FROM media_files f
    WHERE f.id = ts.media_file_id AND f.uuid = %(file_uuid)s AND ts.uuid = %(segment_uuid)s
      AND {{file_editable}}
      AND (%(if_versions)s::int[] IS NULL OR ts.version = ANY(%(if_versions)s::int[]))
    RETURNING ts.id, ts.uuid, ts.start_time, ts.end_time, ts.text, ts.speaker_id, ts.version
)
SELECT u.uuid, u.start_time, u.end_time, u.text, sw.words,
       sp.uuid AS speaker_uuid, sp.label AS speaker_label, coalesce(sp.display_name, sp.label) AS speaker_name,
       u.version
FROM updated u
LEFT JOIN segment_words sw ON sw.segment_id = u.id
LEFT JOIN speakers sp ON sp.id = u.speaker_id;

-- name: segment :one?
-- One segment the actor may see, as the transcript lists it.
SELECT ts.uuid, ts.start_time, ts.end_time, ts.text, sw.words,
       sp.uuid AS speaker_uuid, sp.label AS speaker_label, coalesce(sp.display_name, sp.label) AS speaker_name,
       ts.version
FROM media_files f
JOIN transcript_segments ts ON ts.media_file_id = f.id
LEFT JOIN segment_words sw ON sw.segment_id = ts.id
LEFT JOIN speakers sp ON sp.id = ts.speaker_id
WHERE f.uuid = %(file_uuid)s AND ts.uuid = %(segment_uuid)s
  AND {{file_readable}};
