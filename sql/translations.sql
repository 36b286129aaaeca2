-- A transcript translated by an LLM run of kind `translation` (migration 0025, repo/translations.py): each segment's
-- text in the run's language. Times, speakers and the original text are read from the segments themselves.

-- name: store :rowcount
-- A run's translated texts, keyed by the segment uuids its job read; a segment deleted since is skipped.
INSERT INTO translated_segments (run_id, segment_id, text)
SELECT r.id, ts.id, t.text
FROM llm_runs r
CROSS JOIN unnest(%(segment_uuids)s::uuid[], %(texts)s::text[]) AS t (segment_uuid, text)
JOIN transcript_segments ts ON ts.uuid = t.segment_uuid AND ts.media_file_id = r.media_file_id
WHERE r.id = %(run_id)s AND r.kind = 'translation';

-- name: side_by_side :many
-- The run's file's segments in time order, each with its translation by the run (NULL: a segment added since).
SELECT ts.uuid AS segment_uuid, ts.start_time, ts.end_time, coalesce(sp.display_name, sp.label) AS speaker_name,
       ts.text AS original, tr.text AS translated
FROM llm_runs r
JOIN media_files f ON f.id = r.media_file_id
JOIN transcript_segments ts ON ts.media_file_id = f.id
LEFT JOIN translated_segments tr ON tr.run_id = r.id AND tr.segment_id = ts.id
LEFT JOIN speakers sp ON sp.id = ts.speaker_id
WHERE r.uuid = %(run_uuid)s AND r.kind = 'translation' AND {{file_readable}}
ORDER BY ts.start_time, ts.end_time, ts.id;

-- name: count :scalar
-- How many segments a run translated (its job's check and the tests').
SELECT count(*) FROM translated_segments WHERE run_id = %(run_id)s;
