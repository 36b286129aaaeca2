-- The topics a language model found in a file's transcript (migration 0023, repo/topics.py), children of a
-- `topics` run (sql/llm_runs.sql). A file's topics are those of its newest completed topics run (each run's
-- replace the earlier ones); their proposals (a tag, a collection) are applied only when someone accepts them.

-- fragment: topic_columns
t.uuid, t.run_id, r.uuid AS run_uuid, f.uuid AS file_uuid, f.id AS media_file_id, f.user_id AS file_owner_id,
t.position, t.label, t.description, t.relevance, t.moments, t.proposed_tag, t.proposed_collection,
t.tag_decision, t.collection_decision, t.decided_at, t.created_at

-- name: store :rowcount
-- A completed run's topics, in the order given (`topics`: a JSON array of {label, description, relevance,
-- moments, tag, collection}), written in the transaction that completes the run. They replace the file's topics
-- of earlier runs: a file's rows here are the topics of its newest completed run.
WITH run AS (
    SELECT r.id, r.media_file_id FROM llm_runs r WHERE r.id = %(run_id)s
), replaced AS (
    DELETE FROM file_topics t USING run WHERE t.media_file_id = run.media_file_id AND t.run_id <> run.id
)
INSERT INTO file_topics (run_id, media_file_id, position, label, description, relevance, moments, proposed_tag,
                         proposed_collection)
SELECT run.id, run.media_file_id, (x.ordinality - 1)::integer, x.item ->> 'label', x.item ->> 'description',
       (x.item ->> 'relevance')::real,
       ARRAY(SELECT m::real FROM jsonb_array_elements_text(x.item -> 'moments') AS m),
       x.item ->> 'tag', x.item ->> 'collection'
FROM run, jsonb_array_elements(%(topics)s::jsonb) WITH ORDINALITY AS x (item, ordinality);

-- name: for_file :many
-- The file's topics (those of its newest completed topics run), in the run's order.
SELECT {{topic_columns}}
FROM media_files f
JOIN file_topics t ON t.media_file_id = f.id
JOIN llm_runs r ON r.id = t.run_id
WHERE f.uuid = %(file_uuid)s AND {{file_readable}}
ORDER BY t.position;

-- name: get :one?
SELECT {{topic_columns}}
FROM file_topics t
JOIN llm_runs r ON r.id = t.run_id
JOIN media_files f ON f.id = t.media_file_id
WHERE t.uuid = %(uuid)s AND {{file_readable}};

-- name: decide :one?
-- Record a decision on a topic's proposals (NULL leaves one as it is); `only_undecided` changes only proposals
-- still open (dismissing never takes back an accepted one). Editors of the file only: no row otherwise.
UPDATE file_topics t
SET tag_decision = CASE WHEN %(tag_decision)s::text IS NULL THEN t.tag_decision
                        WHEN %(only_undecided)s::boolean THEN coalesce(t.tag_decision, %(tag_decision)s::text)
                        ELSE %(tag_decision)s::text END,
    collection_decision = CASE WHEN %(collection_decision)s::text IS NULL THEN t.collection_decision
                               WHEN %(only_undecided)s::boolean
                                   THEN coalesce(t.collection_decision, %(collection_decision)s::text)
                               ELSE %(collection_decision)s::text END,
    decided_by = %(actor_id)s,
    decided_at = now()
FROM llm_runs r, media_files f
WHERE t.uuid = %(uuid)s AND r.id = t.run_id AND f.id = t.media_file_id AND {{file_editable}}
RETURNING {{topic_columns}};

-- name: own_collection_named :one?
-- The actor's own collection of this name: the very name, else one that differs only in case.
SELECT c.uuid FROM collections c
WHERE c.user_id = %(actor_id)s AND lower(c.name) = lower(%(name)s)
ORDER BY (c.name = %(name)s) DESC, c.id
LIMIT 1;
