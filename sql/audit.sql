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
