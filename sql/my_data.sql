-- What "download everything of mine" puts in the archive (repo/my_data.py), read acting for the person (row-level
-- security applies) and filtered by them explicitly. Rows are exported whole (`to_jsonb(row)`), less what is the
-- platform's bookkeeping (internal ids, storage paths, job state) or a secret (an LLM configuration's api key), so a
-- column added later is exported without a change here. Others are named by uuid, never by internal id.

-- name: account :scalar
SELECT jsonb_build_object(
    'profile', (
        SELECT jsonb_build_object('uuid', u.uuid, 'email', u.email, 'full_name', u.full_name, 'role', u.role,
                                  'is_active', u.is_active, 'created_at', u.created_at, 'updated_at', u.updated_at,
                                  'last_login_at', u.last_login_at,
                                  'has_password', u.hashed_password <> '!')
        FROM users u WHERE u.id = %(user_id)s),
    'identities', (
        SELECT coalesce(jsonb_agg(to_jsonb(i) - ARRAY['id', 'user_id'] ORDER BY i.id), '[]')
        FROM user_identities i WHERE i.user_id = %(user_id)s),
    'settings', (
        SELECT coalesce(jsonb_object_agg(s.key, s.value ORDER BY s.key), '{}')
        FROM user_settings s WHERE s.user_id = %(user_id)s),
    'notification_preferences', (
        SELECT coalesce(jsonb_object_agg(p.kind, p.in_app ORDER BY p.kind), '{}')
        FROM notification_preferences p WHERE p.user_id = %(user_id)s),
    'llm_configurations', (
        SELECT coalesce(jsonb_agg(
            to_jsonb(c) - ARRAY['id', 'user_id', 'api_key_encrypted', 'api_key_version']
            || jsonb_build_object('has_api_key', c.api_key_encrypted IS NOT NULL) ORDER BY c.id), '[]')
        FROM user_llm_configurations c WHERE c.user_id = %(user_id)s),
    'prompts', (
        SELECT coalesce(jsonb_agg(to_jsonb(p) - ARRAY['id', 'user_id'] ORDER BY p.id), '[]')
        FROM summary_prompts p WHERE p.user_id = %(user_id)s),
    'collections', (
        SELECT coalesce(jsonb_agg(to_jsonb(c) - ARRAY['id', 'user_id'] || jsonb_build_object('files', (
            SELECT coalesce(jsonb_agg(m.uuid ORDER BY cm.added_at, m.id), '[]')
            FROM collection_members cm JOIN media_files m ON m.id = cm.media_file_id
            WHERE cm.collection_id = c.id)) ORDER BY c.id), '[]')
        FROM collections c WHERE c.user_id = %(user_id)s),
    'speaker_profiles', (
        SELECT coalesce(jsonb_agg(to_jsonb(p) - ARRAY['id', 'user_id', 'embedding_signature'] ORDER BY p.id), '[]')
        FROM speaker_profiles p WHERE p.user_id = %(user_id)s),
    'speaker_collections', (
        SELECT coalesce(jsonb_agg(to_jsonb(c) - ARRAY['id', 'user_id'] || jsonb_build_object('profiles', (
            SELECT coalesce(jsonb_agg(p.uuid ORDER BY m.added_at, p.id), '[]')
            FROM speaker_collection_members m JOIN speaker_profiles p ON p.id = m.profile_id
            WHERE m.collection_id = c.id)) ORDER BY c.id), '[]')
        FROM speaker_collections c WHERE c.user_id = %(user_id)s),
    'groups', (
        SELECT coalesce(jsonb_agg(jsonb_build_object(
            'uuid', g.uuid, 'name', g.name, 'description', g.description, 'role', gm.role, 'added_at', gm.added_at,
            'managed_by', gm.managed_by, 'created_by_me', g.created_by IS NOT DISTINCT FROM %(user_id)s)
            ORDER BY gm.added_at, g.id), '[]')
        FROM group_members gm JOIN groups g ON g.id = gm.group_id WHERE gm.user_id = %(user_id)s),
    'shares_made', (
        SELECT coalesce(jsonb_agg(jsonb_build_object(
            'uuid', s.uuid, 'role', s.role, 'created_at', s.created_at, 'file', m.uuid, 'collection', c.uuid,
            'speaker_profile', p.uuid, 'with_user', u.email, 'with_group', g.name) ORDER BY s.id), '[]')
        FROM shares s
        LEFT JOIN media_files m ON m.id = s.media_file_id
        LEFT JOIN collections c ON c.id = s.collection_id
        LEFT JOIN speaker_profiles p ON p.id = s.speaker_profile_id
        LEFT JOIN users u ON u.id = s.user_id
        LEFT JOIN groups g ON g.id = s.group_id
        WHERE s.shared_by = %(user_id)s),
    'questions', (
        SELECT coalesce(jsonb_agg(to_jsonb(q) - ARRAY['id', 'user_id', 'media_file_id', 'collection_id']
            || jsonb_build_object('file', m.uuid, 'collection', c.uuid) ORDER BY q.created_at, q.id), '[]')
        FROM questions q
        LEFT JOIN media_files m ON m.id = q.media_file_id
        LEFT JOIN collections c ON c.id = q.collection_id
        WHERE q.user_id = %(user_id)s),
    'comments_on_others_files', (
        SELECT coalesce(jsonb_agg(to_jsonb(c) - ARRAY['id', 'user_id', 'media_file_id']
            || jsonb_build_object('file', m.uuid) ORDER BY c.created_at, c.id), '[]')
        FROM comments c JOIN media_files m ON m.id = c.media_file_id
        WHERE c.user_id = %(user_id)s AND m.user_id <> %(user_id)s)
);

-- name: files :many
-- The files the person owns, oldest first: what the archive holds one entry (and one original) for.
SELECT id, uuid, filename, storage_path, file_size
FROM media_files
WHERE user_id = %(user_id)s
ORDER BY upload_time, id;

-- name: file :scalar
-- One owned file with everything derived from it. The words of a segment are stored as json (0005): cast back.
SELECT to_jsonb(m) - ARRAY['id', 'user_id', 'storage_path', 'thumbnail_path', 'active_task_id', 'task_started_at',
                           'task_last_update', 'cancellation_requested', 'recovery_attempts',
                           'last_recovery_attempt', 'force_delete_eligible', 'waveform_data']
    || jsonb_build_object(
    'speakers', (
        SELECT coalesce(jsonb_agg(to_jsonb(s) - ARRAY['id', 'media_file_id', 'user_id', 'profile_id',
                                                       'embedding_signature']
            || jsonb_build_object('profile', p.uuid) ORDER BY s.label), '[]')
        FROM speakers s LEFT JOIN speaker_profiles p ON p.id = s.profile_id
        WHERE s.media_file_id = m.id),
    'segments', (
        SELECT coalesce(jsonb_agg(jsonb_build_object(
            'uuid', t.uuid, 'start_time', t.start_time, 'end_time', t.end_time, 'text', t.text,
            'speaker', sp.label, 'words', w.words::jsonb) ORDER BY t.start_time, t.id), '[]')
        FROM transcript_segments t
        LEFT JOIN speakers sp ON sp.id = t.speaker_id
        LEFT JOIN segment_words w ON w.segment_id = t.id
        WHERE t.media_file_id = m.id),
    'tags', (
        SELECT coalesce(jsonb_agg(g.name ORDER BY g.name), '[]')
        FROM file_tags ft JOIN tags g ON g.id = ft.tag_id WHERE ft.media_file_id = m.id),
    'comments', (
        SELECT coalesce(jsonb_agg(to_jsonb(c) - ARRAY['id', 'user_id', 'media_file_id']
            || jsonb_build_object('by_me', c.user_id = m.user_id) ORDER BY c.created_at, c.id), '[]')
        FROM comments c WHERE c.media_file_id = m.id),
    'summaries', (
        SELECT coalesce(jsonb_agg(to_jsonb(s) - ARRAY['id', 'media_file_id', 'user_id', 'prompt_id',
                                                       'llm_configuration_id', 'search_vector']
            ORDER BY s.version), '[]')
        FROM file_summaries s WHERE s.media_file_id = m.id),
    'analytics', (SELECT to_jsonb(a) - ARRAY['id', 'media_file_id'] FROM analytics a WHERE a.media_file_id = m.id),
    'public_links', (
        SELECT coalesce(jsonb_agg(to_jsonb(l) - ARRAY['id', 'media_file_id', 'token_hash', 'created_by']
            ORDER BY l.id), '[]')
        FROM public_links l WHERE l.media_file_id = m.id))
FROM media_files m
WHERE m.id = %(file_id)s AND m.user_id = %(user_id)s;
