-- name: filter_values :one
-- What the library's filter UI offers, over the files the actor can see, in one statement: tags, topics (labels
-- alike but for case are one, repo/topics.py), speakers (by shown name) and speaker profiles with how many files
-- have each, statuses and media types with counts, and the bounds of durations and of upload and recording dates.
-- A media type as in media_files.list_page.
WITH mine AS MATERIALIZED (
    SELECT f.id, f.status, f.duration, f.upload_time, f.creation_date,
           CASE WHEN starts_with(f.content_type, 'video/') OR f.resolution_width IS NOT NULL
                THEN 'video' ELSE 'audio' END AS media_type
    FROM media_files f
    WHERE {{file_readable}}
)
SELECT (SELECT count(*) FROM mine) AS file_count,
    coalesce((
        SELECT json_agg(json_build_object('name', x.name, 'file_count', x.n) ORDER BY x.name)
        FROM (SELECT t.name, count(*) AS n
              FROM mine JOIN file_tags ft ON ft.media_file_id = mine.id JOIN tags t ON t.id = ft.tag_id
              GROUP BY t.name) x), '[]'::json) AS tags,
    coalesce((
        SELECT json_agg(json_build_object('name', x.name, 'file_count', x.n) ORDER BY x.name)
        FROM (SELECT min(tp.label) AS name, count(DISTINCT tp.media_file_id) AS n
              FROM mine JOIN file_topics tp ON tp.media_file_id = mine.id
              GROUP BY lower(tp.label)) x), '[]'::json) AS topics,
    coalesce((
        SELECT json_agg(json_build_object('name', x.name, 'file_count', x.n) ORDER BY x.name)
        FROM (SELECT coalesce(s.display_name, s.label) AS name, count(DISTINCT s.media_file_id) AS n
              FROM mine JOIN speakers s ON s.media_file_id = mine.id
              GROUP BY coalesce(s.display_name, s.label)) x), '[]'::json) AS speakers,
    coalesce((
        SELECT json_agg(json_build_object('uuid', x.uuid, 'name', x.name, 'file_count', x.n) ORDER BY x.name, x.uuid)
        FROM (SELECT p.uuid, p.name, count(DISTINCT s.media_file_id) AS n
              FROM mine JOIN speakers s ON s.media_file_id = mine.id
              JOIN speaker_profiles p ON p.id = s.profile_id
              GROUP BY p.id) x), '[]'::json) AS profiles,
    coalesce((
        SELECT json_agg(json_build_object('name', x.status, 'file_count', x.n) ORDER BY x.status)
        FROM (SELECT status, count(*) AS n FROM mine GROUP BY status) x), '[]'::json) AS statuses,
    coalesce((
        SELECT json_agg(json_build_object('name', x.media_type, 'file_count', x.n) ORDER BY x.media_type)
        FROM (SELECT media_type, count(*) AS n FROM mine GROUP BY media_type) x), '[]'::json) AS media_types,
    (SELECT min(duration) FROM mine) AS duration_min,
    (SELECT max(duration) FROM mine) AS duration_max,
    (SELECT min(upload_time) FROM mine) AS uploaded_first,
    (SELECT max(upload_time) FROM mine) AS uploaded_last,
    (SELECT min(creation_date) FROM mine) AS recorded_first,
    (SELECT max(creation_date) FROM mine) AS recorded_last;
