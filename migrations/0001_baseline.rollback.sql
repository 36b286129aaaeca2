-- Undo the baseline: drop every table, in dependency order, and the trigger function.
DROP TABLE IF EXISTS notification_preferences, notifications, file_summaries, summary_prompts,
    llm_connection_tests, user_llm_configurations, user_settings, analytics, tasks, collection_members,
    collections, comments, file_tags, tags, transcript_segments, speaker_matches, speaker_collection_members,
    speaker_collections, speakers, speaker_profiles, media_files, auth_tokens, users CASCADE;
DROP FUNCTION IF EXISTS set_updated_at();
