-- Step 17: PostgreSQL row-level security as a second wall behind the SQL fragments. Each transaction of the
-- application runs (repo/database.py) with the acting user in `opentr.actor_id` (set_config(..., true): SET LOCAL,
-- it ends with the transaction, which works through PgBouncer's transaction mode) under the role `opentr_app`
-- (SET LOCAL ROLE): a NOLOGIN role that is neither a superuser nor the tables' owner, so these policies apply to it.
-- A query that forgets its fragment returns nothing of another user's; no acting user (NULL) sees nothing. The
-- system (the tables' owner: no SET ROLE) is not subject to RLS: migrations, the CLI, the job dispatcher, recovery
-- and cleanup act as it, each declaring so, and so does an administrator's explicit "all files" view (every file is
-- visible in it by definition; the fragments still scope everything else).
--
-- Tables without RLS, and why:
-- - users, auth_tokens: authentication reads them before anybody acts (a token's owner is not known before the
--   lookup); repo/users.py alone reads and writes them, with its own predicates.
-- - tags: the shared vocabulary of tag names (which file has which tag is file_tags, which has RLS).
-- - import_origins: the importer's bookkeeping (source keys to local ids); the importer acts as the system.
--
-- The policies read the acting user through rls_actor() in a scalar sub-select, evaluated once per statement (an
-- InitPlan), not per row. Tables keyed by a media file compare `media_file_id = ANY (rls_files())`: the array of the
-- files the actor may read, computed once per statement; the planner uses it as an index condition beside the
-- query's own, so the big tables (segments) pay no per-row check (bench/README.md, measure 11). Policies needing the
-- sharing tables go through SECURITY DEFINER helpers that read shares / group_members as the owner (no RLS there):
-- that avoids infinite recursion between the policies of media_files, collections, shares and group_members, and
-- lets them use shared_files(), the same function the SQL fragments use.
--
-- Full-text search: PostgreSQL uses a non-LEAKPROOF operator as an index condition on a table with RLS only after
-- the policy, so `search_vector @@ query` could no longer use the GIN index. tsvector @@ tsquery raises no error
-- that depends on the row, so it is marked LEAKPROOF when the migrating role is a superuser (only a superuser may);
-- otherwise README.md says what to run once.
-- depends: 0013_sharing

-- The role is cluster-wide: create it once, tolerating a concurrent creation by another database's migration.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'opentr_app') THEN
        CREATE ROLE opentr_app NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;
DO $$
BEGIN
    IF NOT pg_has_role(current_user, 'opentr_app', 'MEMBER') THEN
        EXECUTE format('GRANT opentr_app TO %I', current_user);
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;
DO $$
BEGIN
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        ALTER FUNCTION pg_catalog.ts_match_vq(tsvector, tsquery) LEAKPROOF;
    END IF;
END
$$;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO opentr_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO opentr_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO opentr_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO opentr_app;

-- The acting user of this transaction (NULL: nobody).
CREATE FUNCTION rls_actor() RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT nullif(current_setting('opentr.actor_id', true), '')::bigint
$$;

-- Whether the acting user is an administrator (they write the system's prompts and manage groups).
CREATE FUNCTION rls_is_admin() RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(nullif(current_setting('opentr.is_admin', true), '')::boolean, false)
$$;

-- Every file the acting user may read (their own and those shared with them), as an array: a policy compares
-- `media_file_id = ANY (...)`, which the planner uses as an index condition beside the query's own (no per-row
-- check on the big tables), and the scalar sub-select around it is evaluated once per statement. PL/pgSQL caches
-- its plan per session (a set-returning SQL function would be planned on every call).
CREATE FUNCTION rls_files() RETURNS bigint[]
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    actor bigint := rls_actor();
BEGIN
    RETURN ARRAY(SELECT f.id FROM media_files f WHERE f.user_id = actor
                 UNION ALL SELECT a.media_file_id FROM shared_files(actor) a);
END
$$;
-- The files shared with `actor` at `min_rank` or more (shared_files, read as the owner: no RLS inside).
CREATE FUNCTION rls_shared_files(actor bigint, min_rank smallint) RETURNS SETOF bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT a.media_file_id FROM shared_files(actor) a WHERE a.rank >= min_rank
$$;
-- The groups `actor` is a member of.
CREATE FUNCTION rls_groups(actor bigint) RETURNS SETOF bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT gm.group_id FROM group_members gm WHERE gm.user_id = actor
$$;
-- The collections and the speaker profiles shared with `actor`, directly or through a group.
CREATE FUNCTION rls_shared_collections(actor bigint) RETURNS SETOF bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT s.collection_id FROM shares s
    WHERE s.collection_id IS NOT NULL
      AND (s.user_id = actor OR s.group_id IN (SELECT gm.group_id FROM group_members gm WHERE gm.user_id = actor))
$$;
CREATE FUNCTION rls_shared_profiles(actor bigint) RETURNS SETOF bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT s.speaker_profile_id FROM shares s
    WHERE s.speaker_profile_id IS NOT NULL
      AND (s.user_id = actor OR s.group_id IN (SELECT gm.group_id FROM group_members gm WHERE gm.user_id = actor))
$$;

-- media files: read at any rank, edit as an editor, delete as the owner, create as oneself.
ALTER TABLE media_files ENABLE ROW LEVEL SECURITY;
CREATE POLICY media_files_read ON media_files FOR SELECT USING (
    user_id = (SELECT rls_actor())
    OR id IN (SELECT rls_shared_files((SELECT rls_actor()), 1::smallint)));
CREATE POLICY media_files_edit ON media_files FOR UPDATE USING (
    user_id = (SELECT rls_actor())
    OR id IN (SELECT rls_shared_files((SELECT rls_actor()), 3::smallint)));
CREATE POLICY media_files_delete ON media_files FOR DELETE USING (
    user_id = (SELECT rls_actor()));
CREATE POLICY media_files_create ON media_files FOR INSERT WITH CHECK (user_id = (SELECT rls_actor()));

-- What belongs to a media file follows the file (media_files' policy applies inside the sub-select). The ranks of
-- writing (comment, edit) are the fragments' concern; this wall keeps every file one may not see out of reach.
ALTER TABLE transcript_segments ENABLE ROW LEVEL SECURITY;
CREATE POLICY transcript_segments_of_file ON transcript_segments USING (media_file_id = ANY ((SELECT rls_files())::bigint[]));
ALTER TABLE segment_words ENABLE ROW LEVEL SECURITY;
CREATE POLICY segment_words_of_file ON segment_words USING (
    EXISTS (SELECT 1 FROM transcript_segments s WHERE s.id = segment_id));
ALTER TABLE transcript_versions ENABLE ROW LEVEL SECURITY;
CREATE POLICY transcript_versions_of_file ON transcript_versions USING (media_file_id = ANY ((SELECT rls_files())::bigint[]));
ALTER TABLE speakers ENABLE ROW LEVEL SECURITY;
CREATE POLICY speakers_of_file ON speakers USING (media_file_id = ANY ((SELECT rls_files())::bigint[]));
ALTER TABLE speaker_matches ENABLE ROW LEVEL SECURITY;
CREATE POLICY speaker_matches_of_file ON speaker_matches USING (speaker1_id IN (SELECT id FROM speakers));
ALTER TABLE speaker_profile_suggestions ENABLE ROW LEVEL SECURITY;
CREATE POLICY speaker_profile_suggestions_of_file ON speaker_profile_suggestions USING (
    speaker_id IN (SELECT id FROM speakers));
ALTER TABLE file_tags ENABLE ROW LEVEL SECURITY;
CREATE POLICY file_tags_of_file ON file_tags USING (media_file_id = ANY ((SELECT rls_files())::bigint[]));
ALTER TABLE comments ENABLE ROW LEVEL SECURITY;
CREATE POLICY comments_of_file ON comments USING (media_file_id = ANY ((SELECT rls_files())::bigint[]));
ALTER TABLE collection_members ENABLE ROW LEVEL SECURITY;
CREATE POLICY collection_members_of_file ON collection_members USING (media_file_id = ANY ((SELECT rls_files())::bigint[]));
ALTER TABLE analytics ENABLE ROW LEVEL SECURITY;
CREATE POLICY analytics_of_file ON analytics USING (media_file_id = ANY ((SELECT rls_files())::bigint[]));
ALTER TABLE file_summaries ENABLE ROW LEVEL SECURITY;
CREATE POLICY file_summaries_of_file ON file_summaries USING (media_file_id = ANY ((SELECT rls_files())::bigint[]));
ALTER TABLE processing_choices ENABLE ROW LEVEL SECURITY;
CREATE POLICY processing_choices_of_file ON processing_choices USING (media_file_id = ANY ((SELECT rls_files())::bigint[]));
ALTER TABLE public_links ENABLE ROW LEVEL SECURITY;
CREATE POLICY public_links_of_file ON public_links USING (media_file_id = ANY ((SELECT rls_files())::bigint[]));

-- Work: one's own tasks and those on files one sees; staged segments follow their task.
ALTER TABLE tasks ENABLE ROW LEVEL SECURITY;
CREATE POLICY tasks_own ON tasks USING (
    user_id = (SELECT rls_actor()) OR media_file_id = ANY ((SELECT rls_files())::bigint[]));
ALTER TABLE transcript_staging ENABLE ROW LEVEL SECURITY;
CREATE POLICY transcript_staging_of_task ON transcript_staging USING (task_id IN (SELECT id FROM tasks));
ALTER TABLE url_imports ENABLE ROW LEVEL SECURITY;
CREATE POLICY url_imports_own ON url_imports USING (user_id = (SELECT rls_actor()));

-- One's own, plus what is shared with one (read only).
ALTER TABLE collections ENABLE ROW LEVEL SECURITY;
CREATE POLICY collections_own ON collections USING (user_id = (SELECT rls_actor()));
CREATE POLICY collections_shared ON collections FOR SELECT USING (
    id IN (SELECT rls_shared_collections((SELECT rls_actor()))));
ALTER TABLE speaker_profiles ENABLE ROW LEVEL SECURITY;
CREATE POLICY speaker_profiles_own ON speaker_profiles USING (
    user_id = (SELECT rls_actor()));
CREATE POLICY speaker_profiles_shared ON speaker_profiles FOR SELECT USING (
    id IN (SELECT rls_shared_profiles((SELECT rls_actor()))));
ALTER TABLE speaker_collections ENABLE ROW LEVEL SECURITY;
CREATE POLICY speaker_collections_own ON speaker_collections USING (
    user_id = (SELECT rls_actor()));
ALTER TABLE speaker_collection_members ENABLE ROW LEVEL SECURITY;
CREATE POLICY speaker_collection_members_of_collection ON speaker_collection_members USING (
    collection_id IN (SELECT id FROM speaker_collections));

-- A person's own settings, LLM configurations, prompts (the system's prompts are read by all, written by
-- administrators) and notifications.
-- A notification is read by its addressee only; it is written as the system (repo/notifications.py), whoever
-- causes it (a share notifies its grantee, a job its file's owner).
ALTER TABLE user_settings ENABLE ROW LEVEL SECURITY;
CREATE POLICY user_settings_own ON user_settings USING (user_id = (SELECT rls_actor()));
ALTER TABLE user_llm_configurations ENABLE ROW LEVEL SECURITY;
CREATE POLICY user_llm_configurations_own ON user_llm_configurations USING (user_id = (SELECT rls_actor()));
ALTER TABLE llm_connection_tests ENABLE ROW LEVEL SECURITY;
CREATE POLICY llm_connection_tests_own ON llm_connection_tests USING (
    configuration_id IN (SELECT id FROM user_llm_configurations));
ALTER TABLE summary_prompts ENABLE ROW LEVEL SECURITY;
CREATE POLICY summary_prompts_own ON summary_prompts USING (user_id = (SELECT rls_actor()));
CREATE POLICY summary_prompts_system ON summary_prompts FOR SELECT USING (user_id IS NULL);
CREATE POLICY summary_prompts_system_admin ON summary_prompts USING (user_id IS NULL AND (SELECT rls_is_admin()));
ALTER TABLE notifications ENABLE ROW LEVEL SECURITY;
CREATE POLICY notifications_own ON notifications USING (user_id = (SELECT rls_actor()));
ALTER TABLE notification_preferences ENABLE ROW LEVEL SECURITY;
CREATE POLICY notification_preferences_own ON notification_preferences USING (user_id = (SELECT rls_actor()));

-- Groups: a member sees the group and its members; its creator too (to add the first member); administrators
-- manage every group. Shares: seen by the grantee (or a member of the grantee group), the sharer and
-- the object's owner (who has access is the owner's to know, not every viewer's); written by the object's owner (and
-- the grantee may drop a share given to them).
ALTER TABLE groups ENABLE ROW LEVEL SECURITY;
CREATE POLICY groups_member ON groups USING (
    created_by = (SELECT rls_actor()) OR (SELECT rls_is_admin())
    OR id IN (SELECT rls_groups((SELECT rls_actor()))));
ALTER TABLE group_members ENABLE ROW LEVEL SECURITY;
CREATE POLICY group_members_of_group ON group_members USING (group_id IN (SELECT id FROM groups));
-- One's own memberships: a new group and its creator's membership are written (and returned) by one statement
-- (sql/groups.sql: create), whose policy sub-select cannot see the group yet; leaving is deleting one's own row.
-- Which groups one may join or what role one has is the application's rule, not this wall's.
CREATE POLICY group_members_self ON group_members USING (user_id = (SELECT rls_actor()));
ALTER TABLE shares ENABLE ROW LEVEL SECURITY;
CREATE POLICY shares_read ON shares FOR SELECT USING (
    user_id = (SELECT rls_actor()) OR shared_by = (SELECT rls_actor())
    OR group_id IN (SELECT rls_groups((SELECT rls_actor()))));
CREATE POLICY shares_write ON shares USING (
    media_file_id IN (SELECT id FROM media_files WHERE user_id = (SELECT rls_actor()))
    OR collection_id IN (SELECT id FROM collections WHERE user_id = (SELECT rls_actor()))
    OR speaker_profile_id IN (SELECT id FROM speaker_profiles WHERE user_id = (SELECT rls_actor())));
CREATE POLICY shares_leave ON shares FOR DELETE USING (user_id = (SELECT rls_actor()));
