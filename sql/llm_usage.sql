-- The ledger of requests sent to an LLM (migration 0021, repo/llm_usage.py) and the daily limits counted against it.
-- A day is a UTC day: a limit resets at 00:00 UTC for everyone, whatever their time zone.

-- name: record :exec
INSERT INTO llm_usage (user_id, purpose, subject, provider, model_name, input_tokens, output_tokens, reported,
                       latency_ms)
VALUES (%(user_id)s, %(purpose)s, %(subject)s, %(provider)s, %(model_name)s, %(input_tokens)s, %(output_tokens)s,
        %(reported)s, %(latency_ms)s);

-- name: used_today :scalar
SELECT coalesce(sum(input_tokens + output_tokens), 0)::bigint
FROM llm_usage
WHERE user_id = %(user_id)s AND created_at >= date_trunc('day', now(), 'UTC');

-- name: limit_of :one?
-- The person's own limit, if an administrator set one (else the instance's default applies).
SELECT user_id, daily_tokens, set_by, set_at FROM llm_token_limits WHERE user_id = %(user_id)s;

-- name: set_limit :exec
INSERT INTO llm_token_limits (user_id, daily_tokens, set_by)
VALUES (%(user_id)s, %(daily_tokens)s, %(set_by)s)
ON CONFLICT (user_id) DO UPDATE SET daily_tokens = excluded.daily_tokens, set_by = excluded.set_by, set_at = now();

-- name: clear_limit :rowcount
DELETE FROM llm_token_limits WHERE user_id = %(user_id)s;

-- name: of_subject :many
-- The requests of one summary, question or run, oldest first: what each cost, as the server reported it.
SELECT purpose, provider, model_name, input_tokens, output_tokens, reported, latency_ms, created_at
FROM llm_usage
WHERE subject = %(subject)s
ORDER BY id
LIMIT %(limit)s;

-- name: by_purpose_today :many
SELECT purpose, count(*)::int AS requests, coalesce(sum(input_tokens), 0)::bigint AS input_tokens,
       coalesce(sum(output_tokens), 0)::bigint AS output_tokens
FROM llm_usage
WHERE user_id = %(user_id)s AND created_at >= date_trunc('day', now(), 'UTC')
GROUP BY purpose
ORDER BY purpose;

-- name: today_by_user :many
-- For the administration page: each listed person's tokens today and own limit (an administrator reads all rows).
SELECT u.id AS user_id,
       (SELECT coalesce(sum(x.input_tokens + x.output_tokens), 0) FROM llm_usage x
        WHERE x.user_id = u.id AND x.created_at >= date_trunc('day', now(), 'UTC'))::bigint AS used,
       t.daily_tokens AS own_limit
FROM users u
LEFT JOIN llm_token_limits t ON t.user_id = u.id
WHERE %(actor_is_admin)s::boolean AND u.id = ANY(%(user_ids)s::bigint[])
ORDER BY u.id;
