-- Step 19 (foundation): who signed in how, and the audit trail.
-- * audit_log: one row per sign-in (success, failure, lockout), share/unshare, public link use, export, delete,
--   admin action, settings change, retention deletion. Append-only: the application role may INSERT and (an
--   administrator, or the person it is about) SELECT, never UPDATE, DELETE or TRUNCATE; a trigger refuses UPDATE and
--   DELETE for every role, the tables' owner too, unless the transaction says it is the audit log's own retention
--   (`opentr.audit_purge` = 'on', set only by repo/audit.py's purge, which runs as the system). The actor is kept by
--   id and by the e-mail it had (no foreign key): the trail outlives the account it speaks of, until its own
--   retention period ends (README: a person's data).
-- * user_identities: an account's sign-ins from elsewhere: an OpenID provider's (issuer's) subject, or a directory
--   entry (LDAP), per configured provider; removed with the account.
-- * group_members.managed_by: a membership the directory or the identity provider decides (synchronised at each
--   sign-in from its groups claim), as against one an owner added by hand (NULL), which sign-ins never touch.
-- * auth_tokens.kind / method / user_agent / address: what a person's list of sessions shows (a browser or an API
--   token, how it signed in, with what, from where).
-- depends: 0016_questions

CREATE TABLE audit_log (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor_id bigint,
    actor_email text CHECK (length(actor_email) <= 320),
    action text NOT NULL CHECK (action ~ '^[a-z][a-z_]*(\.[a-z][a-z_]*)+$' AND length(action) <= 80),
    outcome text NOT NULL DEFAULT 'success' CHECK (outcome IN ('success', 'failure', 'refused')),
    object_type text CHECK (length(object_type) <= 40),
    object_id text CHECK (length(object_id) <= 200),
    address inet,
    details jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(details) = 'object')
);
CREATE INDEX audit_log_at_idx ON audit_log (at DESC, id DESC);
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, at DESC) WHERE actor_id IS NOT NULL;
CREATE INDEX audit_log_action_idx ON audit_log (action, at DESC);
CREATE INDEX audit_log_object_idx ON audit_log (object_type, object_id) WHERE object_id IS NOT NULL;

CREATE FUNCTION audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('opentr.audit_purge', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the audit log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege', TABLE = 'audit_log';
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM opentr_app;
ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
-- Anyone may add to the trail (a failed sign-in is written by nobody in particular); administrators read all of
-- it, a person the rows about themselves (their sign-ins, for the sessions page).
CREATE POLICY audit_log_append ON audit_log FOR INSERT WITH CHECK (true);
CREATE POLICY audit_log_read ON audit_log FOR SELECT USING (
    (SELECT rls_is_admin()) OR actor_id = (SELECT rls_actor()));

CREATE TABLE user_identities (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider text NOT NULL CHECK (provider ~ '^(oidc|ldap):[a-z0-9][a-z0-9_-]{0,39}$'),
    subject text NOT NULL CHECK (length(subject) BETWEEN 1 AND 1000),
    email text CHECK (length(email) <= 320),
    created_at timestamptz NOT NULL DEFAULT now(),
    last_login_at timestamptz,
    UNIQUE (provider, subject)
);
CREATE INDEX user_identities_user_id_idx ON user_identities (user_id);
-- Sign-ins read and write them as the system (nobody is signed in yet); a person sees their own, an administrator all.
ALTER TABLE user_identities ENABLE ROW LEVEL SECURITY;
CREATE POLICY user_identities_own ON user_identities USING (
    user_id = (SELECT rls_actor()) OR (SELECT rls_is_admin()));

ALTER TABLE group_members ADD COLUMN managed_by text
    CHECK (managed_by ~ '^(oidc|ldap):[a-z0-9][a-z0-9_-]{0,39}$');

ALTER TABLE auth_tokens
    ADD COLUMN kind text NOT NULL DEFAULT 'api' CHECK (kind IN ('api', 'browser')),
    ADD COLUMN method text NOT NULL DEFAULT 'password' CHECK (length(method) BETWEEN 1 AND 60),
    ADD COLUMN user_agent text CHECK (length(user_agent) <= 500),
    ADD COLUMN address inet;
