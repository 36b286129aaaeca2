-- name: search :many
-- One row per file, best file first, its hits as a JSON array best first. Every match is ranked, but
-- ts_headline (the expensive part) runs only for the hits that are returned. Summaries count in their latest
-- completed version only. Snippets are HTML: the text is escaped before <mark> is added.
WITH query AS (
    SELECT websearch_to_tsquery('english', %(q)s) AS tsq
), hits AS (
    -- A user's segments: the GIN bitmap is ANDed with a bitmap of the files the user may read (their own and those
    -- shared with them) before any row is read, so a common word costs the user's matches, not everybody's
    -- (bench/README.md). An admin in the all-files view gets the other branch; the one-time filters on
    -- actor_sees_all keep both branches index-friendly in generic (prepared) plans too.
    SELECT 'segment' AS kind, s.id, s.media_file_id, ts_rank_cd(s.search_vector, query.tsq) AS rank
    FROM query
    JOIN transcript_segments s ON s.search_vector @@ query.tsq
    WHERE NOT %(actor_sees_all)s::boolean
      AND s.media_file_id = ANY(ARRAY(SELECT f.id FROM media_files f WHERE {{file_readable}}))
    UNION ALL
    SELECT 'segment', s.id, s.media_file_id, ts_rank_cd(s.search_vector, query.tsq)
    FROM query
    JOIN transcript_segments s ON s.search_vector @@ query.tsq
    WHERE %(actor_sees_all)s::boolean
    UNION ALL
    SELECT 'summary', fs.id, fs.media_file_id, ts_rank_cd(fs.search_vector, query.tsq)
    FROM query
    JOIN file_summaries fs ON fs.search_vector @@ query.tsq
    JOIN media_files f ON f.id = fs.media_file_id
    WHERE {{file_readable}}
      AND fs.status = 'completed'
      AND NOT EXISTS (
          SELECT 1 FROM file_summaries newer
          WHERE newer.media_file_id = fs.media_file_id AND newer.status = 'completed' AND newer.version > fs.version)
), best_files AS (
    SELECT hits.media_file_id, max(hits.rank) AS best_rank
    FROM hits
    JOIN media_files f ON f.id = hits.media_file_id
    WHERE {{library_filter}}
    GROUP BY hits.media_file_id
    ORDER BY best_rank DESC, hits.media_file_id DESC
    LIMIT %(limit_files)s
), chosen AS (
    SELECT ranked.*
    FROM (
        SELECT hits.*, row_number() OVER (PARTITION BY hits.media_file_id ORDER BY hits.rank DESC, hits.kind, hits.id)
                   AS place
        FROM hits
        JOIN best_files USING (media_file_id)
    ) ranked
    WHERE ranked.place <= %(hits_per_file)s
)
SELECT f.uuid AS file_uuid, f.filename, f.title, b.best_rank,
       json_agg(json_build_object(
           'kind', c.kind,
           'uuid', coalesce(s.uuid, fs.uuid),
           'start_time', s.start_time,
           'end_time', s.end_time,
           'rank', c.rank,
           'snippet', ts_headline(
               'english',
               replace(replace(replace(
                   coalesce(s.text, concat_ws(' ', fs.bluf, fs.brief_summary)), '&', '&amp;'), '<', '&lt;'), '>', '&gt;'),
               query.tsq,
               'StartSel=<mark>, StopSel=</mark>, MaxWords=30, MinWords=10')
       ) ORDER BY c.place) AS hits
FROM best_files b
JOIN media_files f ON f.id = b.media_file_id
JOIN chosen c ON c.media_file_id = b.media_file_id
LEFT JOIN transcript_segments s ON c.kind = 'segment' AND s.id = c.id
LEFT JOIN file_summaries fs ON c.kind = 'summary' AND fs.id = c.id
CROSS JOIN query
GROUP BY f.id, b.best_rank
ORDER BY b.best_rank DESC, f.id DESC;

-- name: segment_passages :many
-- The passage (of %(model)s) holding each word hit's start time, so that hybrid search (repo/search.py) fuses the
-- word hit and the meaning hit of the same moment into one. A segment outside every passage (its file not embedded
-- yet, or edited since) has no row and stays a hit of its own. The segments come from search.search, whose access
-- rule already held (and row-level security holds here too).
SELECT s.uuid AS segment_uuid, held.id AS passage_id
FROM transcript_segments s
JOIN LATERAL (
    SELECT p.id, p.end_time FROM passages p
    WHERE p.media_file_id = s.media_file_id AND p.model = %(model)s AND p.start_time <= s.start_time
    ORDER BY p.start_time DESC, p.position DESC
    LIMIT 1
) held ON s.start_time <= held.end_time
WHERE s.uuid = ANY(%(segments)s::uuid[]);

-- name: passage_hits :many
-- What a passage hit shows: its file, the segment where it starts (the page opens there: #seg-<uuid>; the file's uuid
-- when no segment starts in it any more) and its text, HTML-escaped, with the words of %(q)s marked as search.search
-- marks them. The passages come from meaning.nearest_* and segment_passages, whose access rules already held.
SELECT p.id AS passage_id, f.uuid AS file_uuid, f.filename, f.title, coalesce(anchor.uuid, f.uuid) AS anchor_uuid,
       p.start_time, p.end_time,
       ts_headline(
           'english',
           replace(replace(replace(p.text, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'),
           websearch_to_tsquery('english', %(q)s),
           'StartSel=<mark>, StopSel=</mark>, MaxWords=40, MinWords=15') AS snippet
FROM passages p
JOIN media_files f ON f.id = p.media_file_id
LEFT JOIN LATERAL (
    SELECT s.uuid FROM transcript_segments s
    WHERE s.media_file_id = p.media_file_id AND s.start_time >= p.start_time AND s.start_time <= p.end_time
    ORDER BY s.start_time
    LIMIT 1
) anchor ON true
WHERE p.id = ANY(%(passages)s::bigint[]);
