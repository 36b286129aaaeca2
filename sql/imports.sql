-- Rows brought over from another platform (importers/). `import_origins` maps each source row to the row made
-- from it, so a second run skips what it copied before. Rows whose natural key exists already (a user's email, a
-- tag's name, a per-user name) are matched rather than duplicated: the `SELECT ... UNION ALL` after a
-- `DO NOTHING` insert returns the existing row's id (the statement's snapshot does not see its own insert).

-- name: origins :many
SELECT source_key, target_id FROM import_origins WHERE source = %(source)s AND source_table = %(source_table)s;

-- name: remember :exec
INSERT INTO import_origins (source, source_table, source_key, target_id)
VALUES (%(source)s, %(source_table)s, %(source_key)s, %(target_id)s)
ON CONFLICT (source, source_table, source_key) DO NOTHING;

-- name: user :scalar
WITH created AS (
    INSERT INTO users (email, hashed_password, full_name, is_active, role, created_at)
    VALUES (%(email)s, %(hashed_password)s, %(full_name)s, %(is_active)s, %(role)s, %(created_at)s)
    ON CONFLICT ((lower(email))) DO NOTHING
    RETURNING id
)
SELECT id FROM created
UNION ALL
SELECT id FROM users WHERE lower(email) = lower(%(email)s)
LIMIT 1;

-- name: media_file :scalar
INSERT INTO media_files (
    user_id, filename, storage_path, file_size, content_type, file_hash, duration, language, title, author,
    description, source_url, is_public, status, upload_time, completed_at, media_format, codec, frame_rate,
    frame_count, resolution_width, resolution_height, aspect_ratio, audio_channels, audio_sample_rate,
    audio_bit_depth, creation_date, last_modified_date, device_make, device_model, metadata_raw, metadata_important,
    waveform_data, progress, last_error_message, error_category)
VALUES (
    %(user_id)s, %(filename)s, %(storage_path)s, %(file_size)s, %(content_type)s, %(file_hash)s, %(duration)s,
    %(language)s, %(title)s, %(author)s, %(description)s, %(source_url)s, %(is_public)s, %(status)s,
    %(upload_time)s, %(completed_at)s, %(media_format)s, %(codec)s, %(frame_rate)s, %(frame_count)s,
    %(resolution_width)s, %(resolution_height)s, %(aspect_ratio)s, %(audio_channels)s, %(audio_sample_rate)s,
    %(audio_bit_depth)s, %(creation_date)s, %(last_modified_date)s, %(device_make)s, %(device_model)s,
    %(metadata_raw)s, %(metadata_important)s, %(waveform_data)s, %(progress)s, %(last_error_message)s,
    %(error_category)s)
RETURNING id;

-- name: tag :scalar
WITH created AS (
    INSERT INTO tags (name, created_at) VALUES (%(name)s, %(created_at)s)
    ON CONFLICT (name) DO NOTHING
    RETURNING id
)
SELECT id FROM created UNION ALL SELECT id FROM tags WHERE name = %(name)s LIMIT 1;

-- name: file_tag :rowcount
INSERT INTO file_tags (media_file_id, tag_id, created_at) VALUES (%(media_file_id)s, %(tag_id)s, %(created_at)s)
ON CONFLICT DO NOTHING;

-- name: speaker_profile :scalar
WITH created AS (
    INSERT INTO speaker_profiles (user_id, name, description, created_at)
    VALUES (%(user_id)s, %(name)s, %(description)s, %(created_at)s)
    ON CONFLICT (user_id, name) DO NOTHING
    RETURNING id
)
SELECT id FROM created
UNION ALL
SELECT id FROM speaker_profiles WHERE user_id = %(user_id)s AND name = %(name)s
LIMIT 1;

-- name: speaker :scalar
WITH created AS (
    INSERT INTO speakers (media_file_id, user_id, label, display_name, suggested_name, profile_id, verified,
                          confidence, created_at)
    VALUES (%(media_file_id)s, %(user_id)s, %(label)s, %(display_name)s, %(suggested_name)s, %(profile_id)s,
            %(verified)s, %(confidence)s, %(created_at)s)
    ON CONFLICT (media_file_id, label) DO NOTHING
    RETURNING id
)
SELECT id FROM created
UNION ALL
SELECT id FROM speakers WHERE media_file_id = %(media_file_id)s AND label = %(label)s
LIMIT 1;

-- name: speaker_collection :scalar
WITH created AS (
    INSERT INTO speaker_collections (user_id, name, description, created_at)
    VALUES (%(user_id)s, %(name)s, %(description)s, %(created_at)s)
    ON CONFLICT (user_id, name) DO NOTHING
    RETURNING id
)
SELECT id FROM created
UNION ALL
SELECT id FROM speaker_collections WHERE user_id = %(user_id)s AND name = %(name)s
LIMIT 1;

-- name: speaker_collection_member :rowcount
INSERT INTO speaker_collection_members (collection_id, profile_id, added_at)
VALUES (%(collection_id)s, %(profile_id)s, %(added_at)s)
ON CONFLICT DO NOTHING;

-- name: segments :rowcount
-- One file's transcript, word timings in their own table; the identity index makes a second run insert nothing.
WITH source AS (
    SELECT s.speaker_id, s.start_time, greatest(s.end_time, s.start_time) AS end_time, s.text, s.words
    FROM unnest(%(speaker_ids)s::bigint[], %(starts)s::float8[], %(ends)s::float8[], %(texts)s::text[],
                %(words)s::jsonb[]) AS s (speaker_id, start_time, end_time, text, words)
), inserted AS (
    INSERT INTO transcript_segments (media_file_id, speaker_id, start_time, end_time, text)
    SELECT %(media_file_id)s, speaker_id, start_time, end_time, text FROM source
    ON CONFLICT DO NOTHING
    RETURNING id, start_time, end_time, text
), timed AS (
    INSERT INTO segment_words (segment_id, words)
    SELECT i.id, s.words::json
    FROM inserted i
    JOIN source s ON s.start_time = i.start_time AND s.end_time = i.end_time AND s.text = i.text
    WHERE s.words IS NOT NULL
    ON CONFLICT DO NOTHING
)
SELECT id FROM inserted;

-- name: comment :scalar
INSERT INTO comments (media_file_id, user_id, text, timestamp, created_at)
VALUES (%(media_file_id)s, %(user_id)s, %(text)s, %(timestamp)s, %(created_at)s)
RETURNING id;

-- name: task :rowcount
INSERT INTO tasks (id, user_id, media_file_id, task_type, status, progress, error_message, created_at, completed_at)
VALUES (%(id)s, %(user_id)s, %(media_file_id)s, %(task_type)s, %(status)s, %(progress)s, %(error_message)s,
        %(created_at)s, %(completed_at)s)
ON CONFLICT (id) DO NOTHING;

-- name: analytics :rowcount
INSERT INTO analytics (media_file_id, speaker_stats, keywords, sentiment)
VALUES (%(media_file_id)s, %(speaker_stats)s, %(keywords)s, %(sentiment)s)
ON CONFLICT (media_file_id) DO NOTHING;

-- name: collection :scalar
WITH created AS (
    INSERT INTO collections (user_id, name, description, created_at)
    VALUES (%(user_id)s, %(name)s, %(description)s, %(created_at)s)
    ON CONFLICT (user_id, name) DO NOTHING
    RETURNING id
)
SELECT id FROM created
UNION ALL
SELECT id FROM collections WHERE user_id = %(user_id)s AND name = %(name)s
LIMIT 1;

-- name: collection_member :rowcount
INSERT INTO collection_members (collection_id, media_file_id, added_at)
VALUES (%(collection_id)s, %(media_file_id)s, %(added_at)s)
ON CONFLICT DO NOTHING;

-- name: speaker_match :rowcount
INSERT INTO speaker_matches (speaker1_id, speaker2_id, confidence, created_at)
VALUES (least(%(a)s::bigint, %(b)s::bigint), greatest(%(a)s::bigint, %(b)s::bigint), %(confidence)s, %(created_at)s)
ON CONFLICT (speaker1_id, speaker2_id) DO NOTHING;

-- name: prompt :scalar
WITH created AS (
    INSERT INTO summary_prompts (user_id, name, description, prompt_text, content_type, is_active, created_at)
    VALUES (%(user_id)s, %(name)s, %(description)s, %(prompt_text)s, %(content_type)s, %(is_active)s, %(created_at)s)
    ON CONFLICT (user_id, name) DO NOTHING
    RETURNING id
)
SELECT id FROM created
UNION ALL
SELECT id FROM summary_prompts WHERE user_id = %(user_id)s AND name = %(name)s
LIMIT 1;

-- name: setting :scalar
INSERT INTO user_settings (user_id, key, value, created_at)
VALUES (%(user_id)s, %(key)s, %(value)s, %(created_at)s)
ON CONFLICT (user_id, key) DO UPDATE SET value = user_settings.value
RETURNING id;

-- name: activate_llm_config :rowcount
-- The configuration the old platform marked active becomes the owner's active one, unless they chose one here.
UPDATE user_llm_configurations c SET is_active = true
WHERE c.id = %(id)s
  AND NOT EXISTS (SELECT 1 FROM user_llm_configurations o WHERE o.user_id = c.user_id AND o.is_active);

