-- Step 19: retention. Recordings are deleted on schedule, unless a legal hold stops it; owners are told before.
-- * retention_settings: the instance default ("delete recordings N days after upload"; NULL: keep), one row, set
--   by an administrator. No user's rows: no row-level security (every user reads the rule that applies to them).
-- * collections.retention_days: a collection's own policy, set by its owner (the collection's RLS guards it). It
--   applies to the files in the collection that its owner owns: nobody's collection decides when another person's
--   recording goes.
-- * The rule when several apply: the shortest applicable period wins (the instance default and every policy of a
--   collection that holds the file); a file is due at upload_time + that period. An active legal hold on the file,
--   or on any collection it is in (whoever's), stops its deletion for as long as it lasts.
-- * legal_holds: placed and lifted by administrators, with a reason, who and when; a lifted hold stays as history.
--   Owners see the holds on their files and collections, administrators all; only administrators write them.
-- * retention_notices: the owner was told (once per file and due date) that the file will go; a file is deleted no
--   earlier than OPENTR_RETENTION_NOTICE_DAYS after its first notice (README: Retention and legal hold).
-- depends: 0017_identity_and_audit

CREATE TABLE retention_settings (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    default_days integer CHECK (default_days BETWEEN 1 AND 36500),
    updated_by bigint REFERENCES users (id) ON DELETE SET NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO retention_settings (id) VALUES (true);

ALTER TABLE collections ADD COLUMN retention_days integer CHECK (retention_days BETWEEN 1 AND 36500);

CREATE TABLE legal_holds (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    media_file_id bigint REFERENCES media_files (id) ON DELETE CASCADE,
    collection_id bigint REFERENCES collections (id) ON DELETE CASCADE,
    reason text NOT NULL CHECK (length(reason) BETWEEN 1 AND 1000),
    placed_by bigint REFERENCES users (id) ON DELETE SET NULL,
    placed_at timestamptz NOT NULL DEFAULT now(),
    released_by bigint REFERENCES users (id) ON DELETE SET NULL,
    released_at timestamptz,
    CONSTRAINT legal_holds_one_object_check CHECK ((media_file_id IS NULL) <> (collection_id IS NULL))
);
-- One active hold per object; lifted ones are history.
CREATE UNIQUE INDEX legal_holds_active_file_idx ON legal_holds (media_file_id)
    WHERE released_at IS NULL AND media_file_id IS NOT NULL;
CREATE UNIQUE INDEX legal_holds_active_collection_idx ON legal_holds (collection_id)
    WHERE released_at IS NULL AND collection_id IS NOT NULL;
CREATE INDEX legal_holds_media_file_id_idx ON legal_holds (media_file_id) WHERE media_file_id IS NOT NULL;
CREATE INDEX legal_holds_collection_id_idx ON legal_holds (collection_id) WHERE collection_id IS NOT NULL;
ALTER TABLE legal_holds ENABLE ROW LEVEL SECURITY;
CREATE POLICY legal_holds_read ON legal_holds FOR SELECT USING (
    (SELECT rls_is_admin())
    OR media_file_id IN (SELECT id FROM media_files WHERE user_id = (SELECT rls_actor()))
    OR collection_id IN (SELECT id FROM collections WHERE user_id = (SELECT rls_actor())));
CREATE POLICY legal_holds_place ON legal_holds FOR INSERT WITH CHECK ((SELECT rls_is_admin()));
CREATE POLICY legal_holds_lift ON legal_holds FOR UPDATE USING ((SELECT rls_is_admin()));

CREATE TABLE retention_notices (
    media_file_id bigint NOT NULL REFERENCES media_files (id) ON DELETE CASCADE,
    due_on date NOT NULL,
    notified_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (media_file_id, due_on)
);
-- Written by the retention job (as the system); the owner reads their own.
ALTER TABLE retention_notices ENABLE ROW LEVEL SECURITY;
CREATE POLICY retention_notices_own ON retention_notices FOR SELECT USING (
    media_file_id IN (SELECT id FROM media_files WHERE user_id = (SELECT rls_actor())));
