-- name: create :one
INSERT INTO user_llm_configurations (uuid, user_id, name, provider, model_name, base_url, api_key_encrypted,
                                     api_key_version, max_tokens, temperature, context_tokens)
VALUES (%(uuid)s, %(actor_id)s, %(name)s, %(provider)s, %(model_name)s, %(base_url)s, %(api_key_encrypted)s,
        %(api_key_version)s, %(max_tokens)s, %(temperature)s, %(context_tokens)s)
RETURNING id, uuid, user_id, name, provider, model_name, base_url, api_key_encrypted IS NOT NULL AS has_api_key,
          max_tokens, temperature, context_tokens, is_active, created_at, updated_at;

-- name: get :one
SELECT id, uuid, user_id, name, provider, model_name, base_url, api_key_encrypted IS NOT NULL AS has_api_key,
       max_tokens, temperature, context_tokens, is_active, created_at, updated_at
FROM user_llm_configurations
WHERE uuid = %(uuid)s AND user_id = %(actor_id)s;

-- name: list_for_user :many
-- The acting user's own configurations (an admin's list is theirs too: configurations are personal).
SELECT id, uuid, user_id, name, provider, model_name, base_url, api_key_encrypted IS NOT NULL AS has_api_key,
       max_tokens, temperature, context_tokens, is_active, created_at, updated_at
FROM user_llm_configurations
WHERE user_id = %(actor_id)s
ORDER BY name, id;

-- name: update :one
-- NULL means "unchanged"; set_api_key says whether api_key_encrypted/api_key_version replace the stored key.
UPDATE user_llm_configurations
SET name = coalesce(%(name)s::text, name),
    provider = coalesce(%(provider)s::text, provider),
    model_name = coalesce(%(model_name)s::text, model_name),
    base_url = CASE WHEN %(base_url)s::text IS NULL THEN base_url ELSE nullif(%(base_url)s::text, '') END,
    api_key_encrypted = CASE WHEN %(set_api_key)s::boolean THEN %(api_key_encrypted)s::bytea
                             ELSE api_key_encrypted END,
    api_key_version = CASE WHEN %(set_api_key)s::boolean THEN %(api_key_version)s::integer ELSE api_key_version END,
    max_tokens = coalesce(%(max_tokens)s::integer, max_tokens),
    temperature = coalesce(%(temperature)s::real, temperature),
    -- 0: no longer stated (read from the server again)
    context_tokens = CASE WHEN %(context_tokens)s::integer IS NULL THEN context_tokens
                          ELSE nullif(%(context_tokens)s::integer, 0) END
WHERE uuid = %(uuid)s AND user_id = %(actor_id)s
RETURNING id, uuid, user_id, name, provider, model_name, base_url, api_key_encrypted IS NOT NULL AS has_api_key,
          max_tokens, temperature, context_tokens, is_active, created_at, updated_at;

-- name: delete :rowcount
DELETE FROM user_llm_configurations
WHERE uuid = %(uuid)s AND user_id = %(actor_id)s;

-- name: lock_owner_configs :many
-- Locks every configuration of the target's owner, in id order so that concurrent activations queue instead of
-- deadlocking; no rows when the target is not visible to the actor.
SELECT c.user_id
FROM user_llm_configurations c
WHERE c.user_id = (SELECT t.user_id FROM user_llm_configurations t
                   WHERE t.uuid = %(uuid)s AND t.user_id = %(actor_id)s)
ORDER BY c.id
FOR UPDATE;

-- name: deactivate_others :rowcount
UPDATE user_llm_configurations SET is_active = false
WHERE user_id = %(user_id)s AND is_active AND uuid <> %(uuid)s;

-- name: activate :one
UPDATE user_llm_configurations SET is_active = true
WHERE uuid = %(uuid)s AND user_id = %(user_id)s
RETURNING id, uuid, user_id, name, provider, model_name, base_url, api_key_encrypted IS NOT NULL AS has_api_key,
          max_tokens, temperature, context_tokens, is_active, created_at, updated_at;

-- name: active :one?
SELECT id, uuid, user_id, name, provider, model_name, base_url, api_key_encrypted IS NOT NULL AS has_api_key,
       max_tokens, temperature, context_tokens, is_active, created_at, updated_at
FROM user_llm_configurations
WHERE user_id = %(actor_id)s AND is_active;

-- name: sealed_key :one
SELECT id, uuid, user_id, api_key_encrypted, api_key_version
FROM user_llm_configurations
WHERE uuid = %(uuid)s AND user_id = %(actor_id)s;

-- name: all_sealed_keys :many
-- Every stored key, locked so that no key is written between reading it and re-sealing it.
SELECT id, uuid, user_id, api_key_encrypted, api_key_version
FROM user_llm_configurations
WHERE api_key_encrypted IS NOT NULL
ORDER BY id
FOR UPDATE;

-- name: reseal_keys :rowcount
UPDATE user_llm_configurations c
SET api_key_encrypted = v.sealed, api_key_version = %(api_key_version)s
FROM unnest(%(ids)s::bigint[], %(sealed)s::bytea[]) AS v(id, sealed)
WHERE c.id = v.id;

-- name: record_test :one
INSERT INTO llm_connection_tests (configuration_id, ok, latency_ms, message)
SELECT id, %(ok)s, %(latency_ms)s, %(message)s
FROM user_llm_configurations
WHERE uuid = %(uuid)s AND user_id = %(actor_id)s
RETURNING id, tested_at, ok, latency_ms, message;

-- name: tests_for :many
SELECT t.id, t.tested_at, t.ok, t.latency_ms, t.message
FROM llm_connection_tests t
JOIN user_llm_configurations c ON c.id = t.configuration_id
WHERE c.uuid = %(uuid)s AND c.user_id = %(actor_id)s
ORDER BY t.tested_at DESC, t.id DESC
LIMIT %(limit)s;

-- name: get_by_id :one
-- For the worker: the configuration a summary was queued with.
SELECT id, uuid, user_id, name, provider, model_name, base_url, api_key_encrypted IS NOT NULL AS has_api_key,
       max_tokens, temperature, context_tokens, is_active, created_at, updated_at
FROM user_llm_configurations
WHERE id = %(id)s;
