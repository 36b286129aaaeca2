-- The columns of a prompt (repo/prompts.py's Prompt), unqualified: every query reads one table or one CTE.

-- fragment: prompt_columns
id, uuid, user_id, name, description, prompt_text, content_type, output_format, output_schema, is_system_default,
is_active, created_at, updated_at

-- name: list_visible :many
-- System prompts first, then the actor's own; an admin's list is the same (other users' prompts are theirs).
SELECT {{prompt_columns}}
FROM summary_prompts
WHERE (user_id IS NULL OR user_id = %(actor_id)s)
  AND (%(content_type)s::text IS NULL OR content_type = %(content_type)s::text)
ORDER BY user_id IS NOT NULL, name, id;

-- name: get :one
SELECT {{prompt_columns}}
FROM summary_prompts
WHERE uuid = %(uuid)s AND (user_id IS NULL OR user_id = %(actor_id)s);

-- name: create :one
INSERT INTO summary_prompts (user_id, name, description, prompt_text, content_type, output_format, output_schema)
VALUES (%(actor_id)s, %(name)s, %(description)s, %(prompt_text)s, %(content_type)s, %(output_format)s,
        %(output_schema)s)
RETURNING {{prompt_columns}};

-- name: update :one
-- Users edit their own prompts; admins also the system ones (user_id NULL), never another user's (personal).
UPDATE summary_prompts
SET name = coalesce(%(name)s::text, name),
    description = CASE WHEN %(description)s::text IS NULL THEN description
                       ELSE nullif(%(description)s::text, '') END,
    prompt_text = coalesce(%(prompt_text)s::text, prompt_text),
    content_type = coalesce(%(content_type)s::text, content_type),
    is_active = coalesce(%(is_active)s::boolean, is_active),
    output_format = coalesce(%(output_format)s::text, output_format),
    output_schema = CASE WHEN coalesce(%(output_format)s::text, output_format) <> 'json' THEN NULL
                         ELSE coalesce(%(output_schema)s::jsonb, output_schema) END
WHERE uuid = %(uuid)s AND (user_id = %(actor_id)s OR (user_id IS NULL AND %(actor_is_admin)s::boolean))
RETURNING {{prompt_columns}};

-- name: delete :one?
-- The target as the actor may write it (no row: not found), deleted unless it is a system default.
WITH target AS (
    SELECT id, is_system_default FROM summary_prompts
    WHERE uuid = %(uuid)s AND (user_id = %(actor_id)s OR (user_id IS NULL AND %(actor_is_admin)s::boolean))
), gone AS (
    DELETE FROM summary_prompts p USING target t WHERE p.id = t.id AND NOT t.is_system_default
)
SELECT is_system_default FROM target;

-- name: activate :one
-- Records the choice in user_settings ("summary.active_prompt", a JSON string like the settings repository's).
WITH chosen AS (
    SELECT {{prompt_columns}}
    FROM summary_prompts
    WHERE uuid = %(uuid)s AND (user_id IS NULL OR user_id = %(actor_id)s)
), saved AS (
    INSERT INTO user_settings (user_id, key, value)
    SELECT %(actor_id)s, 'summary.active_prompt', to_jsonb(chosen.uuid::text) FROM chosen
    ON CONFLICT (user_id, key) DO UPDATE SET value = EXCLUDED.value
)
SELECT {{prompt_columns}}
FROM chosen;

-- name: active :one
-- The user's chosen prompt while it is still visible and enabled (except that speaker identification only takes a
-- chosen prompt of its own type), else the system default for the content type, else the general default.
WITH chosen AS (
    SELECT value #>> '{}' AS uuid_text
    FROM user_settings
    WHERE user_id = %(actor_id)s AND key = 'summary.active_prompt' AND jsonb_typeof(value) = 'string'
)
SELECT {{prompt_columns}}
FROM summary_prompts p
LEFT JOIN chosen c ON c.uuid_text = p.uuid::text
    AND p.is_active
    AND (p.user_id IS NULL OR p.user_id = %(actor_id)s)
    AND (%(content_type)s::text <> 'speaker_identification' OR p.content_type = %(content_type)s::text)
WHERE c.uuid_text IS NOT NULL
   OR (p.is_system_default AND p.content_type IN (%(content_type)s::text, 'general'))
ORDER BY c.uuid_text IS NULL, p.content_type <> %(content_type)s::text
LIMIT 1;

-- name: get_by_id :one
-- For the worker, which acts for the summary's owner and re-reads the prompt it was given.
SELECT {{prompt_columns}}
FROM summary_prompts
WHERE id = %(id)s;
