-- name: upsert :one
INSERT INTO analytics (media_file_id, speaker_stats, keywords, sentiment)
VALUES (%(file_id)s, %(speaker_stats)s, %(keywords)s, %(sentiment)s)
ON CONFLICT (media_file_id) DO UPDATE
SET speaker_stats = EXCLUDED.speaker_stats, keywords = EXCLUDED.keywords, sentiment = EXCLUDED.sentiment
RETURNING id, media_file_id, speaker_stats, keywords, sentiment, created_at, updated_at;

-- name: delete_for_file :rowcount
-- Partial results of a cancelled job go with it.
DELETE FROM analytics WHERE media_file_id = %(file_id)s;

-- name: file_totals :one?
-- A file's speech time (the union of its segments, overlaps counted once) against its duration (the media's, else
-- the transcript's end), with the worker's keywords and what diarization did. No row: a file the actor cannot read.
-- Analytics are computed here, at read time, from the segments: an edited segment or speaker shows at once, in the
-- editing transaction itself, and there is no stored copy to recompute or to go stale.
WITH f AS (
    SELECT f.id, f.uuid, f.duration, f.diarization FROM media_files f
    WHERE f.uuid = %(file_uuid)s AND {{file_readable}}
), seg AS (
    SELECT ts.start_time, ts.end_time,
           max(ts.end_time) OVER (ORDER BY ts.start_time, ts.end_time, ts.id
                                  ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach
    FROM transcript_segments ts JOIN f ON ts.media_file_id = f.id
), speech AS (
    SELECT count(*) AS segment_count,
           coalesce(sum(greatest(0, end_time - greatest(start_time, coalesce(reach, 0)))), 0)::float8 AS speech_time,
           max(end_time) AS last_end
    FROM seg
)
SELECT f.uuid AS file_uuid, coalesce(f.duration, speech.last_end, 0)::float8 AS duration, speech.speech_time,
       CASE WHEN coalesce(f.duration, speech.last_end, 0) > 0
            THEN greatest(0, least(1, 1 - speech.speech_time / coalesce(f.duration, speech.last_end)))::float8
       END AS silence_ratio,
       speech.segment_count, f.diarization, coalesce(a.keywords, '[]'::jsonb) AS keywords
FROM f CROSS JOIN speech LEFT JOIN analytics a ON a.media_file_id = f.id;

-- name: speaker_stats :many
-- Per speaker of a file (segments without a speaker together, uuid NULL): talk time and share of all talk, words,
-- words per minute of own talk, turns (a turn is a run of consecutive segments of one speaker, in time order), the
-- longest turn (first start to last end), interruptions (turns starting before the previous segment ended) and
-- questions (segments ending in '?'). Talk time first.
WITH f AS (
    SELECT f.id FROM media_files f
    WHERE f.uuid = %(file_uuid)s AND {{file_readable}}
), seg AS (
    SELECT ts.id, ts.speaker_id, ts.start_time, ts.end_time, ts.text,
           row_number() OVER w AS n, lag(ts.speaker_id) OVER w AS previous_speaker, lag(ts.end_time) OVER w AS previous_end
    FROM transcript_segments ts JOIN f ON ts.media_file_id = f.id
    WINDOW w AS (ORDER BY ts.start_time, ts.end_time, ts.id)
), marked AS (
    SELECT seg.*, (n = 1 OR previous_speaker IS DISTINCT FROM speaker_id) AS starts_turn FROM seg
), turns AS (
    SELECT marked.*, sum(starts_turn::int) OVER (ORDER BY n) AS turn FROM marked
), per_turn AS (
    SELECT speaker_id, max(end_time) - min(start_time) AS length,
           bool_or(starts_turn AND n > 1 AND start_time < previous_end) AS interrupting
    FROM turns GROUP BY turn, speaker_id
), per_speaker AS (
    SELECT speaker_id, sum(end_time - start_time)::float8 AS talk_time,
           sum((SELECT count(*) FROM regexp_matches(text, '\S+', 'g'))) AS words,
           count(*) FILTER (WHERE right(rtrim(text), 1) = '?') AS questions
    FROM seg GROUP BY speaker_id
), turn_counts AS (
    SELECT speaker_id, count(*) AS turns, max(length)::float8 AS longest_monologue,
           count(*) FILTER (WHERE interrupting) AS interruptions
    FROM per_turn GROUP BY speaker_id
)
SELECT sp.uuid AS speaker_uuid, sp.label, coalesce(sp.display_name, sp.label) AS name, ps.talk_time,
       coalesce(ps.talk_time / nullif(sum(ps.talk_time) OVER (), 0), 0)::float8 AS share, ps.words,
       CASE WHEN ps.talk_time > 0 THEN (ps.words / (ps.talk_time / 60))::float8 END AS words_per_minute,
       tc.turns, tc.longest_monologue, tc.interruptions, ps.questions
FROM per_speaker ps
JOIN turn_counts tc ON tc.speaker_id IS NOT DISTINCT FROM ps.speaker_id
LEFT JOIN speakers sp ON sp.id = ps.speaker_id
ORDER BY ps.talk_time DESC, sp.label NULLS LAST;
