-- name: search :many
-- One page of files with their hits as a JSON array, in one of two orders (repo/search.py; the `newest` column says
-- which). A query matching at most %(common)s of the segments the actor may search ranks every match: files best
-- first, each with its best hits (keyset pages on best_rank, file id). One matching more is not worth ranking whole
-- (a word in 12 % of segments: every user's posting list read, 12,000 ts_rank_cd calls; bench/README.md): its files
-- come newest first, each with its first hits (pages on upload_time, file id), and only the hits shown are ranked.
-- ts_headline (the costly part per hit) runs only for returned hits. Summaries count in their latest completed
-- version only. Snippets are HTML: the text is escaped before <mark> is added. limit_files + 1 files come back: the
-- last one only says that another page follows.
WITH query AS (
    SELECT websearch_to_tsquery('english', %(q)s) AS tsq
), files AS MATERIALIZED (
    -- What may be searched, once: the files the actor may read, narrowed by the library's filters.
    SELECT f.id, f.upload_time, f.uuid, f.filename, f.title
    FROM media_files f
    WHERE {{file_readable}} AND {{library_filter}}
), matches AS (
    -- Every segment matching, through the index. A user's: the GIN bitmap is ANDed with a bitmap of the files
    -- searched before any row is read, so a word costs the user's matches, not everybody's (bench/README.md). An
    -- admin in the all-files view (every file searched) gets the other branch; the one-time filters on
    -- actor_sees_all keep both branches index-friendly in generic (prepared) plans too.
    SELECT s.id, s.media_file_id, s.start_time, s.search_vector
    FROM transcript_segments s
    WHERE NOT %(actor_sees_all)s::boolean
      AND s.search_vector @@ (SELECT tsq FROM query)
      AND s.media_file_id = ANY(ARRAY(SELECT id FROM files))
    UNION ALL
    SELECT s.id, s.media_file_id, s.start_time, s.search_vector
    FROM transcript_segments s
    WHERE %(actor_sees_all)s::boolean
      AND s.search_vector @@ (SELECT tsq FROM query)
      AND s.media_file_id IN (SELECT id FROM files)
), sample AS MATERIALIZED (
    -- How often the query matches the first %(probe_rows)s segments of the newest files searched, counted up to
    -- %(common)s + 1 (a word in every tenth segment gets there within a thousand rows). No index is read: ts_match_vq(v,
    -- q) is `v @@ q` in a form the GIN index cannot serve, and where a file's own rows are read (here and newest
    -- first, below) the planner would otherwise AND the word's whole posting list, every user's, with each file's
    -- rows (14 ms a file for `think`), knowing nothing of how common the word is. A best-first page needs no sample.
    SELECT count(*) AS found FROM (
        SELECT 1 FROM (
            SELECT ts_match_vq(s.search_vector, (SELECT tsq FROM query)) AS found
            FROM (SELECT id FROM files ORDER BY upload_time DESC, id DESC OFFSET 0) newest
            CROSS JOIN LATERAL (
                SELECT s.search_vector FROM transcript_segments s WHERE s.media_file_id = newest.id) s
            WHERE %(order)s::text <> 'best'
            LIMIT %(probe_rows)s) rows
        WHERE rows.found
        LIMIT %(common)s + 1) found
), probe AS (
    -- `newest`: more than %(common)s matches, decided exactly: by the sample when it shows that many, else by the
    -- index, counting up to %(common)s + 1. A later page keeps its first page's order (the cursor's). `dense`: the
    -- sample found the query in at least %(dense_matches)s of its rows, so newest first reads the files' own rows
    -- (a few hundred a file) rather than the index's every match; how the page is read, not what it holds.
    SELECT sample.found >= %(dense_matches)s AS dense,
           CASE WHEN %(order)s::text <> 'auto' THEN %(order)s::text = 'newest'
                WHEN sample.found > %(common)s THEN true
                ELSE (SELECT count(*) FROM (SELECT 1 FROM matches LIMIT %(common)s + 1) found) > %(common)s
           END AS newest
    FROM sample
), latest_summaries AS (
    -- The summaries that match: each file's latest completed version only.
    SELECT fs.id, fs.media_file_id, ts_rank_cd(fs.search_vector, query.tsq) AS rank
    FROM query
    JOIN file_summaries fs ON fs.search_vector @@ query.tsq
    WHERE fs.media_file_id IN (SELECT id FROM files)
      AND fs.status = 'completed'
      AND NOT EXISTS (
          SELECT 1 FROM file_summaries newer
          WHERE newer.media_file_id = fs.media_file_id AND newer.status = 'completed' AND newer.version > fs.version)
), hits AS (
    -- Best first: every match is ranked.
    SELECT 'segment' AS kind, m.id, m.media_file_id, ts_rank_cd(m.search_vector, query.tsq) AS rank
    FROM matches m, query
    WHERE NOT (SELECT newest FROM probe)
    UNION ALL
    SELECT 'summary', fs.id, fs.media_file_id, fs.rank
    FROM latest_summaries fs
    WHERE NOT (SELECT newest FROM probe)
), best_files AS (
    SELECT hits.media_file_id, max(hits.rank) AS best_rank
    FROM hits
    GROUP BY hits.media_file_id
    HAVING %(after_id)s::bigint IS NULL
        OR (max(hits.rank)::float8, hits.media_file_id) < (%(after_rank)s::float8, %(after_id)s::bigint)
    ORDER BY best_rank DESC, hits.media_file_id DESC
    LIMIT %(limit_files)s + 1
), best_chosen AS (
    SELECT ranked.*
    FROM (
        SELECT hits.*, row_number() OVER (PARTITION BY hits.media_file_id ORDER BY hits.rank DESC, hits.kind, hits.id)
                   AS place
        FROM hits
        JOIN best_files USING (media_file_id)
    ) ranked
    WHERE ranked.place <= %(hits_per_file)s
), newest_files AS (
    -- Newest first: the files searched, newest first from the page's start, that hold a match, limit_files + 1 of
    -- them. A dense word: each file in turn is looked into until its first match (OFFSET 0 keeps the order before
    -- the look), so the page costs about as many files as it shows. Any other: the files of the index's matches.
    SELECT page.id, page.upload_time
    FROM (
        SELECT files.id, files.upload_time FROM files
        WHERE (SELECT newest AND dense FROM probe)
          AND (%(after_time)s::timestamptz IS NULL
               OR (files.upload_time, files.id) < (%(after_time)s::timestamptz, %(after_id)s::bigint))
        ORDER BY files.upload_time DESC, files.id DESC
        OFFSET 0
    ) page
    CROSS JOIN LATERAL (
        SELECT 1 FROM transcript_segments s
        WHERE s.media_file_id = page.id AND ts_match_vq(s.search_vector, (SELECT tsq FROM query))
        UNION ALL
        SELECT 1 FROM latest_summaries fs WHERE fs.media_file_id = page.id
        LIMIT 1
    ) found
    LIMIT %(limit_files)s + 1
), newest_indexed AS (
    SELECT files.id, files.upload_time FROM files
    WHERE (SELECT newest AND NOT dense FROM probe)
      AND (%(after_time)s::timestamptz IS NULL
           OR (files.upload_time, files.id) < (%(after_time)s::timestamptz, %(after_id)s::bigint))
      AND files.id IN (SELECT media_file_id FROM matches UNION ALL SELECT media_file_id FROM latest_summaries)
    ORDER BY files.upload_time DESC, files.id DESC
    LIMIT %(limit_files)s + 1
), newest_page AS (
    SELECT id, upload_time FROM newest_files
    UNION ALL
    SELECT id, upload_time FROM newest_indexed
), newest_chosen AS (
    -- Newest first, a file's hits are its latest summary, then its first matching segments in time order (the
    -- order a listener meets them): a dense word's through the (media_file_id, start_time …) index until enough
    -- are found, where ranking a common word's hundred near-equal matches per file would read and rank them all.
    SELECT chosen.* FROM (
        SELECT found.kind, found.id, found.media_file_id, found.rank,
               row_number() OVER (PARTITION BY found.media_file_id
                                  ORDER BY found.kind = 'segment', found.start_time, found.id) AS place
        FROM (
            SELECT 'summary' AS kind, fs.id, fs.media_file_id, fs.rank, NULL::float8 AS start_time
            FROM latest_summaries fs
            WHERE fs.media_file_id IN (SELECT id FROM newest_page)
            UNION ALL
            SELECT 'segment', s.id, s.media_file_id, ts_rank_cd(s.search_vector, query.tsq), s.start_time
            FROM newest_files nf
            CROSS JOIN query
            CROSS JOIN LATERAL (
                SELECT s.id, s.media_file_id, s.start_time, s.search_vector FROM transcript_segments s
                WHERE s.media_file_id = nf.id AND ts_match_vq(s.search_vector, query.tsq)
                ORDER BY s.start_time, s.id
                LIMIT %(hits_per_file)s
            ) s
            UNION ALL
            SELECT 'segment', m.id, m.media_file_id, ts_rank_cd(m.search_vector, query.tsq), m.start_time
            FROM (
                SELECT m.*, row_number() OVER (PARTITION BY m.media_file_id ORDER BY m.start_time, m.id) AS n
                FROM matches m
                WHERE (SELECT newest AND NOT dense FROM probe) AND m.media_file_id IN (SELECT id FROM newest_indexed)
            ) m
            CROSS JOIN query
            WHERE m.n <= %(hits_per_file)s
        ) found
    ) chosen
    WHERE chosen.place <= %(hits_per_file)s
), page_files AS (
    SELECT b.media_file_id, b.best_rank, row_number() OVER (ORDER BY b.best_rank DESC, b.media_file_id DESC) AS position
    FROM best_files b
    UNION ALL
    SELECT nf.id, max(c.rank), row_number() OVER (ORDER BY nf.upload_time DESC, nf.id DESC)
    FROM newest_page nf
    JOIN newest_chosen c ON c.media_file_id = nf.id
    GROUP BY nf.id, nf.upload_time
), chosen AS (
    SELECT kind, id, media_file_id, rank, place FROM best_chosen
    UNION ALL
    SELECT kind, id, media_file_id, rank, place FROM newest_chosen
)
SELECT f.id AS file_id, f.upload_time, (SELECT newest FROM probe) AS newest,
       f.uuid AS file_uuid, f.filename, f.title, p.best_rank,
       json_agg(json_build_object(
           'kind', c.kind,
           'uuid', coalesce(s.uuid, fs.uuid),
           'start_time', s.start_time,
           'end_time', s.end_time,
           'rank', c.rank,
           'snippet', ts_headline(
               'english',
               replace(replace(replace(
                   coalesce(s.text, concat_ws(' ', fs.bluf, fs.brief_summary, fs.markdown)), '&', '&amp;'), '<', '&lt;'), '>', '&gt;'),
               query.tsq,
               'StartSel=<mark>, StopSel=</mark>, MaxWords=30, MinWords=10')
       ) ORDER BY c.place) AS hits
FROM page_files p
JOIN files f ON f.id = p.media_file_id
JOIN chosen c ON c.media_file_id = p.media_file_id
LEFT JOIN transcript_segments s ON c.kind = 'segment' AND s.id = c.id
LEFT JOIN file_summaries fs ON c.kind = 'summary' AND fs.id = c.id
CROSS JOIN query
GROUP BY f.id, f.upload_time, f.uuid, f.filename, f.title, p.best_rank, p.position
ORDER BY p.position;

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
