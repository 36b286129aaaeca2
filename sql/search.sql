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
