-- Search by meaning: the passages nearest a query vector among those the actor may read (repo/meaning.py).
-- `{N}` is the embedding's dimension, a typmod, which PostgreSQL takes only as a literal: repo/meaning.py formats it
-- with an integer (repo.statements.Dimensioned) and the HNSW index of that dimension (repo/passages.py) serves
-- `ORDER BY p.embedding::vector({N}) <=> %(query)s::vector({N})` only under `cardinality(p.embedding) = {N}`.
-- Distances are cosine distances (1 - similarity); `score` is the similarity. The query vector is cast once, in a
-- scalar subquery: as a bare parameter, a generic (prepared) plan would parse its text again for every row.

-- name: candidate_passages :one
-- How many passages the candidate files hold, counted up to %(cap)s through the (media_file_id, position) key
-- (not the vectors), and about how many the table holds (the planner's estimate, free): repo/meaning.py chooses
-- the plan from both.
SELECT (SELECT count(*) FROM (
            SELECT 1 FROM passages p
            WHERE p.media_file_id = ANY(ARRAY({{passage_files}}))
            LIMIT %(cap)s
        ) counted) AS candidates,
       (SELECT greatest(c.reltuples, 0)::bigint FROM pg_class c WHERE c.oid = 'passages'::regclass) AS total;

-- name: nearest_exact :many
-- Every passage of the candidate files is scored, then the best k kept: exact, whatever share of the table the
-- actor sees. The MATERIALIZED CTE keeps the planner from ordering through the HNSW index (whose post-filtered
-- scan would return too few rows for a user who sees little: pgvector 0.6 has no iterative index scans); the
-- passages are reached through the media_file_id key, so the cost is the actor's passages, not everybody's.
WITH scored AS MATERIALIZED (
    SELECT p.id, p.embedding::vector({N}) <=> (SELECT %(query)s::vector({N})) AS distance
    FROM passages p
    WHERE p.media_file_id = ANY(ARRAY({{passage_files}}))
      AND p.model = %(model)s
      AND cardinality(p.embedding) = {N}
), best AS (
    SELECT scored.id, scored.distance FROM scored ORDER BY scored.distance, scored.id LIMIT %(k)s
)
SELECT p.media_file_id AS file_id, f.uuid AS file_uuid, f.filename, f.title, p.id AS passage_id,
       p.start_time, p.end_time, p.text, (1 - best.distance)::float8 AS score
FROM best
JOIN passages p ON p.id = best.id
JOIN media_files f ON f.id = p.media_file_id
ORDER BY best.distance, p.id;

-- name: nearest_indexed :many
-- The HNSW index returns the %(fetch)s passages nearest overall (hnsw.ef_search is raised to %(fetch)s for the
-- transaction by repo/meaning.py), then the access rule, the model and the filters drop those the actor may not
-- have: for the admin's all-files view and for actors who see a large part of the table, where an exact scan
-- would read too many vectors. repo/meaning.py falls back to nearest_exact when fewer than k survive.
WITH candidates AS MATERIALIZED (
    SELECT p.id, p.media_file_id, p.embedding::vector({N}) <=> (SELECT %(query)s::vector({N})) AS distance
    FROM passages p
    WHERE cardinality(p.embedding) = {N}
      AND p.model = %(model)s
    ORDER BY p.embedding::vector({N}) <=> (SELECT %(query)s::vector({N}))
    LIMIT %(fetch)s
)
SELECT p.media_file_id AS file_id, f.uuid AS file_uuid, f.filename, f.title, p.id AS passage_id,
       p.start_time, p.end_time, p.text, (1 - c.distance)::float8 AS score
FROM candidates c
JOIN passages p ON p.id = c.id
JOIN media_files f ON f.id = c.media_file_id
WHERE f.id IN ({{passage_files}})
ORDER BY c.distance, p.id
LIMIT %(k)s;
