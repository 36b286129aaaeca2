-- Step 19: a person's own data. `data_exports`: each "download everything of mine" a person asked for, built by a
-- job (jobs/data_exports.py) into one zip in storage (`storage_key`, under the person's own storage directory), and
-- downloadable by that person only, until `expires_at` (a day after it is ready). `opentr cleanup` removes an
-- expired archive from storage and marks its row `expired` (the row stays, so an old link answers 410, not 404).
-- Removed with the account (the archive's object after the commit: web/my_data.py).
-- depends: 0017_identity_and_audit

CREATE TABLE data_exports (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'processing', 'ready', 'failed', 'expired')),
    progress real NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 1),
    storage_key text UNIQUE CHECK (length(storage_key) BETWEEN 1 AND 300),
    size bigint CHECK (size >= 0),
    files integer CHECK (files >= 0),
    error text CHECK (length(error) <= 2000),
    created_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    ready_at timestamptz,
    expires_at timestamptz,
    CONSTRAINT data_exports_ready_check CHECK (status <> 'ready' OR (
        storage_key IS NOT NULL AND size IS NOT NULL AND ready_at IS NOT NULL AND expires_at IS NOT NULL))
);
CREATE INDEX data_exports_user_id_idx ON data_exports (user_id, created_at DESC, id DESC);
CREATE INDEX data_exports_expires_at_idx ON data_exports (expires_at) WHERE status = 'ready';
-- One being built per person at a time (repo/data_exports.py says so first, in words; this holds under races).
CREATE UNIQUE INDEX data_exports_one_busy_key ON data_exports (user_id) WHERE status IN ('pending', 'processing');

-- Personal, as notifications are: only its owner lists or downloads an export, administrators included.
ALTER TABLE data_exports ENABLE ROW LEVEL SECURITY;
CREATE POLICY data_exports_own ON data_exports USING (user_id = (SELECT rls_actor()));
