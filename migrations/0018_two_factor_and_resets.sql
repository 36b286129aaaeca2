-- Step 19: two factors, password resets by e-mail, sessions one can name, and the instance's own settings.
-- * user_two_factor: one row per account that has (or is asked for) a second factor. `required`: an administrator
--   requires two factors of this account; the secret (RFC 6238, base32) is sealed like an LLM api key (AES-GCM
--   under the user's key, credentials/sealing.py) with the master key's version beside it; `enabled_at` NULL with a
--   secret: enrolment started, not yet confirmed with a code. `last_step`: the 30-second time step of the last code
--   accepted, so a code is used once (a replay within its window is refused).
-- * recovery_codes: one-time codes, kept only as SHA-256 hashes (80 random bits each: a hash is enough); a used one
--   stays with `used_at` set, so reusing it is refused, not unknown.
-- * password_resets: a reset link's token, kept only as a hash; single use (`used_at`), expires.
-- * instance_settings: what an administrator sets for the whole instance (`two_factor.required`), who and when.
-- * auth_tokens.uuid: how a person's list of sessions names a session (the bigint id stays inside).
-- Removed with the account: its second factor, codes and resets (ON DELETE CASCADE); a setting's author is nulled.
-- depends: 0017_identity_and_audit

CREATE TABLE user_two_factor (
    user_id bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    required boolean NOT NULL DEFAULT false,
    secret_sealed bytea,
    secret_version integer,
    enabled_at timestamptz,
    last_step bigint,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((secret_sealed IS NULL) = (secret_version IS NULL)),
    CHECK (enabled_at IS NULL OR secret_sealed IS NOT NULL)
);
-- Sign-ins read them as the system (nobody is signed in yet); a person sees and changes their own, an administrator
-- all (to require two factors of someone).
ALTER TABLE user_two_factor ENABLE ROW LEVEL SECURITY;
CREATE POLICY user_two_factor_own ON user_two_factor USING (
    user_id = (SELECT rls_actor()) OR (SELECT rls_is_admin()));

CREATE TABLE recovery_codes (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash bytea NOT NULL CHECK (length(code_hash) = 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    used_at timestamptz,
    UNIQUE (user_id, code_hash)
);
ALTER TABLE recovery_codes ENABLE ROW LEVEL SECURITY;
CREATE POLICY recovery_codes_own ON recovery_codes USING (user_id = (SELECT rls_actor()));

CREATE TABLE password_resets (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    address inet
);
CREATE INDEX password_resets_user_id_idx ON password_resets (user_id);
-- Requested and used by someone not signed in: the repository works on them as the system.
ALTER TABLE password_resets ENABLE ROW LEVEL SECURITY;
CREATE POLICY password_resets_own ON password_resets USING (user_id = (SELECT rls_actor()));

CREATE TABLE instance_settings (
    key text PRIMARY KEY CHECK (key ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$' AND length(key) <= 80),
    value jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by bigint REFERENCES users (id) ON DELETE SET NULL
);

ALTER TABLE auth_tokens ADD COLUMN uuid uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE;
