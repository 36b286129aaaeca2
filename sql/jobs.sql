-- Job ownership and the outbox. A running job holds the session advisory lock of its task id on a dedicated
-- connection for its whole life (workers/liveness.py); PostgreSQL releases it the instant that session ends (process
-- killed; machine gone once TCP keepalive gives up), so "can I take the lock?" answers "is the owner dead?" with no
-- clock. The key is a 64-bit hash of the task id (a collision only makes recovery wait for the other job).
--
-- Lock order, for everything that touches a file and its task: the media_files row, then the file_summaries row,
-- then tasks, then notifications. Jobs and recovery both follow it, so they cannot deadlock.
--
-- Which tasks wait for a job and which claim a live owner is each job subject's own SQL (`jobs_waiting`,
-- `jobs_claimed` in its domain's file; repo/jobs.py), run for every kind of job the registry declares (jobs/).

-- name: try_lock :scalar
SELECT pg_try_advisory_lock(hashtextextended('opentr.job:' || %(task_id)s::text, 0));

-- name: unlock :scalar
SELECT pg_advisory_unlock(hashtextextended('opentr.job:' || %(task_id)s::text, 0));
