-- Questions asked of one's recordings (repo/questions.py): personal, so every query names the asker, and row-level
-- security (policy questions_own) says the same. A file or collection the asker can no longer see shows as NULL.

-- name: create :one
-- The whole answered question in one statement, written when the answer has ended.
WITH created AS (
    INSERT INTO questions (user_id, scope, media_file_id, collection_id, question, answer, citations, provider,
                           model_name)
    VALUES (%(actor_id)s, %(scope)s, %(media_file_id)s, %(collection_id)s, %(question)s, %(answer)s,
            %(citations)s, %(provider)s, %(model_name)s)
    RETURNING *
)
SELECT q.id, q.uuid, q.user_id, q.scope, q.media_file_id, m.uuid AS file_uuid, q.collection_id,
       c.uuid AS collection_uuid, q.question, q.answer, q.citations, q.provider, q.model_name, q.created_at
FROM created q
LEFT JOIN media_files m ON m.id = q.media_file_id
LEFT JOIN collections c ON c.id = q.collection_id;

-- name: list_for_user :many
-- Newest first. Keyset: the cursor is the uuid of the last question of the previous page.
SELECT q.id, q.uuid, q.user_id, q.scope, q.media_file_id, m.uuid AS file_uuid, q.collection_id,
       c.uuid AS collection_uuid, q.question, q.answer, q.citations, q.provider, q.model_name, q.created_at
FROM questions q
LEFT JOIN media_files m ON m.id = q.media_file_id
LEFT JOIN collections c ON c.id = q.collection_id
WHERE q.user_id = %(actor_id)s
  AND (%(cursor)s::uuid IS NULL OR (q.created_at, q.id) < (
          SELECT k.created_at, k.id FROM questions k
          WHERE k.uuid = %(cursor)s::uuid AND k.user_id = %(actor_id)s))
ORDER BY q.created_at DESC, q.id DESC
LIMIT %(limit)s;

-- name: get :one?
SELECT q.id, q.uuid, q.user_id, q.scope, q.media_file_id, m.uuid AS file_uuid, q.collection_id,
       c.uuid AS collection_uuid, q.question, q.answer, q.citations, q.provider, q.model_name, q.created_at
FROM questions q
LEFT JOIN media_files m ON m.id = q.media_file_id
LEFT JOIN collections c ON c.id = q.collection_id
WHERE q.uuid = %(uuid)s AND q.user_id = %(actor_id)s;

-- name: delete :rowcount
DELETE FROM questions WHERE uuid = %(uuid)s AND user_id = %(actor_id)s;

-- name: delete_all :rowcount
DELETE FROM questions WHERE user_id = %(actor_id)s;
