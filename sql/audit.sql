-- The audit trail (repo/audit.py): appended to, read by administrators, purged only by its own retention.

-- name: record :exec
-- One event. The acting user's e-mail is copied in as it is now: the trail must still say who after the account is
-- renamed or deleted. Runs under any role (the INSERT policy admits everyone; the users row is read by the
-- sub-select on users, a table without row-level security).
INSERT INTO audit_log (actor_id, actor_email, action, outcome, object_type, object_id, address, details)
VALUES (%(actor_id)s,
        coalesce(%(actor_email)s, (SELECT u.email FROM users u WHERE u.id = %(actor_id)s::bigint)),
        %(action)s, %(outcome)s, %(object_type)s, %(object_id)s, %(address)s::inet, %(details)s);
-- (no RETURNING: a returned row must pass the SELECT policy too, and the anonymous writer of a failed sign-in may
-- not read the trail)

-- name: purge_older_than :rowcount
-- The audit log's own retention: rows older than the period go, and only here (the trigger audit_log_append_only
-- lets a DELETE through when this transaction set opentr.audit_purge; repo/audit.py sets it as the system).
DELETE FROM audit_log WHERE at < now() - make_interval(days => %(days)s);

-- name: search :many
-- One page of the trail, newest first, for the administrators' page, its CSV and GET /api/admin/audit
-- (repo/audit.py's `AuditFilter`). A NULL filter is not applied. The page goes on after (`before_at`, `before_id`),
-- the last row of the previous page (keyset: a page costs the same deep in the trail). Row-level security shows an
-- administrator every row (policy audit_log_read); the actor's account is joined for whether it still exists
-- (users has no row-level security; the e-mail shown is the one recorded at the time).
SELECT a.id, a.at, a.actor_id, a.actor_email, u.uuid AS actor_uuid, (u.id IS NOT NULL) AS actor_exists,
       a.action, a.outcome, a.object_type, a.object_id, host(a.address) AS address, a.details
FROM audit_log a
LEFT JOIN users u ON u.id = a.actor_id
WHERE (%(actor_uuid)s::uuid IS NULL OR a.actor_id = (SELECT x.id FROM users x WHERE x.uuid = %(actor_uuid)s::uuid))
  AND (%(actor_email)s::text IS NULL OR lower(a.actor_email) = lower(%(actor_email)s::text)
       OR lower(u.email) = lower(%(actor_email)s::text))
  AND (%(action)s::text IS NULL OR a.action = %(action)s::text)
  AND (%(action_prefix)s::text IS NULL OR starts_with(a.action, %(action_prefix)s::text))
  AND (%(outcome)s::text IS NULL OR a.outcome = %(outcome)s::text)
  AND (%(object_type)s::text IS NULL OR a.object_type = %(object_type)s::text)
  AND (%(object_id)s::text IS NULL OR a.object_id = %(object_id)s::text)
  AND (%(network)s::cidr IS NULL OR a.address <<= %(network)s::cidr)
  AND (%(since)s::timestamptz IS NULL OR a.at >= %(since)s::timestamptz)
  AND (%(until)s::timestamptz IS NULL OR a.at <= %(until)s::timestamptz)
  AND (%(before_at)s::timestamptz IS NULL
       OR (a.at, a.id) < (%(before_at)s::timestamptz, %(before_id)s::bigint))
ORDER BY a.at DESC, a.id DESC
LIMIT %(limit)s::integer;
