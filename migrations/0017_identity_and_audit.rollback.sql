-- Undo 0017: the audit trail, the identities from elsewhere, and what sessions recorded about themselves go.
ALTER TABLE auth_tokens DROP COLUMN address, DROP COLUMN user_agent, DROP COLUMN method, DROP COLUMN kind;
ALTER TABLE group_members DROP COLUMN managed_by;
DROP TABLE user_identities;
DROP TABLE audit_log;
DROP FUNCTION audit_log_append_only();
