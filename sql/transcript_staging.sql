-- Segments staged by a running job (keyed by its task), published as the file's transcript in one transaction.

-- name: stage :copy
COPY transcript_staging (task_id, seq, start_time, end_time, text, speaker_label, words) FROM STDIN (FORMAT BINARY);

-- name: staged :many
SELECT start_time, end_time, text, speaker_label, words
FROM transcript_staging WHERE task_id = %(task_id)s ORDER BY seq;

-- name: staged_outline :many
-- The same without the words: what publishing needs (times, text, speakers), without parsing every word's JSON.
SELECT start_time, end_time, text, speaker_label
FROM transcript_staging WHERE task_id = %(task_id)s ORDER BY seq;

-- name: staged_labels :many
SELECT DISTINCT speaker_label AS label FROM transcript_staging
WHERE task_id = %(task_id)s AND speaker_label IS NOT NULL ORDER BY speaker_label;

-- name: publish :rowcount
-- The staged rows become segments; a repeat of the same times and text (engines on noise do that) is kept once,
-- as the segments' identity index demands.
INSERT INTO transcript_segments (media_file_id, speaker_id, start_time, end_time, text)
SELECT DISTINCT ON (st.start_time, st.end_time, md5(st.text))
       %(file_id)s, sp.id, st.start_time, st.end_time, st.text
FROM transcript_staging st
LEFT JOIN speakers sp ON sp.media_file_id = %(file_id)s AND sp.label = st.speaker_label
WHERE st.task_id = %(task_id)s
ORDER BY st.start_time, st.end_time, md5(st.text), st.seq;

-- name: publish_words :rowcount
-- The word timings of the segments just published, found through the identity index; of staged repeats the
-- first one's words, as publish kept the first one.
INSERT INTO segment_words (segment_id, words)
SELECT DISTINCT ON (ts.id) ts.id, st.words
FROM transcript_staging st
JOIN transcript_segments ts
  ON ts.media_file_id = %(file_id)s AND ts.start_time = st.start_time AND ts.end_time = st.end_time
 AND md5(ts.text) = md5(st.text)
WHERE st.task_id = %(task_id)s AND st.words IS NOT NULL
ORDER BY ts.id, st.seq;

-- name: clear :rowcount
DELETE FROM transcript_staging WHERE task_id = %(task_id)s;

-- name: clear_for_file :rowcount
-- What dead or superseded jobs of this file staged.
DELETE FROM transcript_staging st USING tasks t
WHERE t.id = st.task_id AND t.media_file_id = %(file_id)s AND t.id <> %(keep_task_id)s;

-- name: stage_published :rowcount
-- The file's published transcript staged again, text and words as they are now (a user's corrections included),
-- all under one label: how a re-run of diarization splits the kept text between speakers afresh.
INSERT INTO transcript_staging (task_id, seq, start_time, end_time, text, speaker_label, words)
SELECT %(task_id)s, row_number() OVER (ORDER BY ts.start_time, ts.end_time, ts.id) - 1, ts.start_time, ts.end_time,
       ts.text, %(label)s::text, sw.words
FROM transcript_segments ts
LEFT JOIN segment_words sw ON sw.segment_id = ts.id
WHERE ts.media_file_id = %(file_id)s;
