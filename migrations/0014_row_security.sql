-- Step 17: PostgreSQL row-level security as a second wall behind the SQL fragments. Each transaction of the
-- application runs (repo/database.py) with the acting user in `opentr.actor_id` and the admin's explicit all-files
-- view in `opentr.sees_all` (both SET LOCAL through set_config(..., true): they end with the transaction, which works
-- through PgBouncer's transaction mode), under the role `opentr_app` (SET LOCAL ROLE): a NOLOGIN role that is neither
-- a superuser nor the tables' owner, so these policies apply to it. A query that forgets the fragment returns nothing
-- of another user's. No acting user (NULL) sees nothing. The system (the table owner: no SET ROLE) is not subject to
-- RLS: migrations, the CLI, the job dispatcher, recovery and cleanup act as it, each declaring so.
--
-- Tables without RLS, and why:
-- - users, auth_tokens: authentication reads them before anybody acts (a token's owner is not known before the
--   lookup); they are read and written by repo/users.py only, as the system.
-- - tags: the shared vocabulary of tag names (which file has which tag is file_tags, which has RLS).
-- - import_origins: the importer's bookkeeping (source keys to local ids); the importer acts as the system.
--
-- The policies read the acting user through rls_actor() in a scalar sub-select, so it is evaluated once per statement
-- (an InitPlan), not per row. Policies needing the sharing tables go through SECURITY DEFINER helpers: they read
-- shares / group_members as the owner (no RLS there), which both avoids infinite recursion between the policies of
-- media_files, collections, shares and group_members and lets a file's policy use shared_files(), the same function
-- the SQL fragments use. Tables keyed by a media file reach it with `media_file_id IN (SELECT id FROM media_files)`:
-- media_files' own policy applies inside, so they follow it (shares, groups and ranks) without repeating it.
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
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO opentr_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO opentr_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO opentr_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO opentr_app;

-- The acting user of this transaction (NULL: nobody) and whether an admin acts in the explicit all-files view.
CREATE FUNCTION rls_actor() RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT nullif(current_setting('opentr.actor_id', true), '')::bigint
$$;
CREATE FUNCTION rls_sees_all() RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(nullif(current_setting('opentr.sees_all', true), '')::boolean, false)
$$;

-- The files shared with `actor` at `min_rank` or more (shared_files, read as the owner: no RLS inside).
CREATE FUNCTION rls_shared_files(actor bigint, min_rank smallint) RETURNS SETOF bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT a.media_file_id FROM shared_files(actor) a WHERE a.rank >= min_rank
$$;
-- The groups `actor` is a member of.
CREATE FUNCTION rls_groups(actor bigint) RETURNS SETOF bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT gm.group_id FROM group_members gm WHERE gm.user_id = actor
$$;
-- The collections and the speaker profiles shared with `actor`, directly or through a group.
CREATE FUNCTION rls_shared_collections(actor bigint) RETURNS SETOF bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT s.collection_id FROM shares s
    WHERE s.collection_id IS NOT NULL
      AND (s.user_id = actor OR s.group_id IN (SELECT gm.group_id FROM group_members gm WHERE gm.user_id = actor))
$$;
CREATE FUNCTION rls_shared_profiles(actor bigint) RETURNS SETOF bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT s.speaker_profile_id FROM shares s
    WHERE s.speaker_profile_id IS NOT NULL
      AND (s.user_id = actor OR s.group_id IN (SELECT gm.group_id FROM group_members gm WHERE gm.user_id = actor))
$$;

-- media files: read at any rank, edit as an editor, delete as the owner, create as oneself.
ALTER TABLE media_files ENABLE ROW LEVEL SECURITY;
CREATE POLICY media_files_read ON media_files FOR SELECT USING (
    user_id = (SELECT rls_actor()) OR (SELECT rls_sees_all())
    OR id IN (SELECT rls_shared_files((SELECT rls_actor()), 1::smallint)));
CREATE POLICY media_files_edit ON media_files FOR UPDATE USING (
    user_id = (SELECT rls_actor()) OR (SELECT rls_sees_all())
    OR id IN (SELECT rls_shared_files((SELECT rls_actor()), 3::smallint)));
CREATE POLICY media_files_delete ON media_files FOR DELETE USING (
    user_id = (SELECT rls_actor()) OR (SELECT rls_sees_all()));
CREATE POLICY media_files_create ON media_files FOR INSERT WITH CHECK (user_id = (SELECT rls_actor()));

-- What belongs to a media file follows the file (media_files' policy applies inside the sub-select). The ranks of
-- writing (comment, edit) are the fragments' concern; this wall keeps every file one may not see out of reach.
ALTER TABLE transcript_segments ENABLE ROW LEVEL SECURITY;
CREATE POLICY transcript_segments_of_file ON transcript_segments USING (media_file_id IN (SELECT id FROM media_files));
ALTER TABLE segment_words ENABLE ROW LEVEL SECURITY;
CREATE POLICY segment_words_of_file ON segment_words USING (
    EXISTS (SELECT 1 FROM transcript_segments s WHERE s.id = segment_id));
ALTER TABLE transcript_versions ENABLE ROW LEVEL SECURITY;
CREATE POLICY transcript_versions_of_file ON transcript_versions USING (media_file_id IN (SELECT id FROM media_files));
ALTER TABLE speakers ENABLE ROW LEVEL SECURITY;
CREATE POLICY speakers_of_file ON speakers USING (media_file_id IN (SELECT id FROM media_files));
ALTER TABLE speaker_matches ENABLE ROW LEVEL SECURITY;
CREATE POLICY speaker_matches_of_file ON speaker_matches USING (speaker1_id IN (SELECT id FROM speakers));
ALTER TABLE speaker_profile_suggestions ENABLE ROW LEVEL SECURITY;
CREATE POLICY speaker_profile_suggestions_of_file ON speaker_profile_suggestions USING (
    speaker_id IN (SELECT id FROM speakers));
ALTER TABLE file_tags ENABLE ROW LEVEL SECURITY;
CREATE POLICY file_tags_of_file ON file_tags USING (media_file_id IN (SELECT id FROM media_files));
ALTER TABLE comments ENABLE ROW LEVEL SECURITY;
CREATE POLICY comments_of_file ON comments USING (media_file_id IN (SELECT id FROM media_files));
ALTER TABLE collection_members ENABLE ROW LEVEL SECURITY;
CREATE POLICY collection_members_of_file ON collection_members USING (media_file_id IN (SELECT id FROM media_files));
ALTER TABLE analytics ENABLE ROW LEVEL SECURITY;
CREATE POLICY analytics_of_file ON analytics USING (media_file_id IN (SELECT id FROM media_files));
ALTER TABLE file_summaries ENABLE ROW LEVEL SECURITY;
CREATE POLICY file_summaries_of_file ON file_summaries USING (media_file_id IN (SELECT id FROM media_files));
ALTER TABLE processing_choices ENABLE ROW LEVEL SECURITY;
CREATE POLICY processing_choices_of_file ON processing_choices USING (media_file_id IN (SELECT id FROM media_files));
ALTER TABLE public_links ENABLE ROW LEVEL SECURITY;
CREATE POLICY public_links_of_file ON public_links USING (media_file_id IN (SELECT id FROM media_files));

-- Work: one's own tasks and those on files one sees; staged segments follow their task.
ALTER TABLE tasks ENABLE ROW LEVEL SECURITY;
CREATE POLICY tasks_own ON tasks USING (
    user_id = (SELECT rls_actor()) OR (SELECT rls_sees_all()) OR media_file_id IN (SELECT id FROM media_files));
ALTER TABLE transcript_staging ENABLE ROW LEVEL SECURITY;
CREATE POLICY transcript_staging_of_task ON transcript_staging USING (task_id IN (SELECT id FROM tasks));
ALTER TABLE url_imports ENABLE ROW LEVEL SECURITY;
CREATE POLICY url_imports_own ON url_imports USING (user_id = (SELECT rls_actor()) OR (SELECT rls_sees_all()));

-- One's own, plus what is shared with one (read only).
ALTER TABLE collections ENABLE ROW LEVEL SECURITY;
CREATE POLICY collections_own ON collections USING (user_id = (SELECT rls_actor()) OR (SELECT rls_sees_all()));
CREATE POLICY collections_shared ON collections FOR SELECT USING (
    id IN (SELECT rls_shared_collections((SELECT rls_actor()))));
ALTER TABLE speaker_profiles ENABLE ROW LEVEL SECURITY;
CREATE POLICY speaker_profiles_own ON speaker_profiles USING (
    user_id = (SELECT rls_actor()) OR (SELECT rls_sees_all()));
CREATE POLICY speaker_profiles_shared ON speaker_profiles FOR SELECT USING (
    id IN (SELECT rls_shared_profiles((SELECT rls_actor()))));
ALTER TABLE speaker_collections ENABLE ROW LEVEL SECURITY;
CREATE POLICY speaker_collections_own ON speaker_collections USING (
    user_id = (SELECT rls_actor()) OR (SELECT rls_sees_all()));
ALTER TABLE speaker_collection_members ENABLE ROW LEVEL SECURITY;
CREATE POLICY speaker_collection_members_of_collection ON speaker_collection_members USING (
    collection_id IN (SELECT id FROM speaker_collections));

-- A person's own settings, LLM configurations, prompts (the system's prompts are read by all) and notifications.
-- Anyone may notify anyone (a share notifies its grantee, a job its file's owner); only the addressee reads them.
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
ALTER TABLE notifications ENABLE ROW LEVEL SECURITY;
CREATE POLICY notifications_own ON notifications USING (user_id = (SELECT rls_actor()));
CREATE POLICY notifications_send ON notifications FOR INSERT WITH CHECK (true);
ALTER TABLE notification_preferences ENABLE ROW LEVEL SECURITY;
CREATE POLICY notification_preferences_own ON notification_preferences USING (user_id = (SELECT rls_actor()));

-- Groups: a member sees the group and its members; its creator too (to add the first member); the all-files view
-- (administrators) sees every group. Shares: seen by the grantee (or a member of the grantee group), the sharer and
-- the object's owner (who has access is the owner's to know, not every viewer's); written by the object's owner (and
-- the grantee may drop a share given to them).
ALTER TABLE groups ENABLE ROW LEVEL SECURITY;
CREATE POLICY groups_member ON groups USING (
    created_by = (SELECT rls_actor()) OR (SELECT rls_sees_all())
    OR id IN (SELECT rls_groups((SELECT rls_actor()))));
ALTER TABLE group_members ENABLE ROW LEVEL SECURITY;
CREATE POLICY group_members_of_group ON group_members USING (group_id IN (SELECT id FROM groups));
ALTER TABLE shares ENABLE ROW LEVEL SECURITY;
CREATE POLICY shares_read ON shares FOR SELECT USING (
    user_id = (SELECT rls_actor()) OR shared_by = (SELECT rls_actor()) OR (SELECT rls_sees_all())
    OR group_id IN (SELECT rls_groups((SELECT rls_actor()))));
CREATE POLICY shares_write ON shares USING (
    (SELECT rls_sees_all())
    OR media_file_id IN (SELECT id FROM media_files WHERE user_id = (SELECT rls_actor()))
    OR collection_id IN (SELECT id FROM collections WHERE user_id = (SELECT rls_actor()))
    OR speaker_profile_id IN (SELECT id FROM speaker_profiles WHERE user_id = (SELECT rls_actor())));
CREATE POLICY shares_leave ON shares FOR DELETE USING (user_id = (SELECT rls_actor()));
