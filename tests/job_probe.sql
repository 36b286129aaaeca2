-- The SQL of the `probe` kind of job (tests/job_probe.py): its subject is a row of `probe_items`, a table only the
-- test that uses it creates (tests/test_job_registry.py, PROBE_TABLE).

-- name: jobs_waiting :many
SELECT t.id AS task_id, p.id AS subject_id
FROM tasks t JOIN probe_items p ON p.task_id = t.id
WHERE t.task_type = %(task_type)s AND t.status = 'pending' AND p.status = 'queued'
ORDER BY t.created_at, t.id
LIMIT %(limit)s;

-- name: jobs_claimed :many
SELECT t.id AS task_id, p.id AS subject_id
FROM tasks t LEFT JOIN probe_items p ON p.task_id = t.id
WHERE t.task_type = %(task_type)s AND t.status = 'in_progress'
ORDER BY t.id
LIMIT %(limit)s;

-- name: start :rowcount
UPDATE probe_items SET status = 'running', runs = runs + 1
WHERE id = %(id)s AND task_id = %(task_id)s AND status = 'queued';

-- name: released :scalar
SELECT released FROM probe_items WHERE id = %(id)s;

-- name: finish :rowcount
UPDATE probe_items SET status = %(status)s WHERE id = %(id)s AND task_id = %(task_id)s AND status = 'running';

-- name: lock :one?
SELECT id, user_id, task_id, status FROM probe_items WHERE id = %(id)s FOR UPDATE;

-- name: requeue :rowcount
UPDATE probe_items SET status = 'queued', task_id = %(task_id)s WHERE id = %(id)s;
