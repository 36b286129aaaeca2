-- Rows brought over from another platform (importers/). `import_origins` maps each source row to the row made
-- from it (its id, or for a row without one, its key as text), so that a later run never adds it again, even
-- after a user deleted it here. Rows whose natural key exists already (a user's email, a tag's name, a per-user
-- name, a link's two ids) are matched rather than duplicated: the `SELECT ... UNION ALL` after a `DO NOTHING`
-- insert returns the existing row's id (the statement's snapshot does not see its own insert), and `created` says
-- which of the two happened. The old platform's times may be NULL (nullable columns with a default): now() stands in.

-- name: origins :many
-- What the rows of one source table became here, and whether each still exists: a user may have deleted it (or
-- removed the link) since. `target_table` names our table; a link row's target_key holds its ids as "a,b" in the
-- order of its primary key. An unknown target table answers NULL, which the caller refuses.
SELECT o.source_key, o.target_id, o.target_key,
       CASE %(target_table)s::text
           WHEN 'users' THEN EXISTS (SELECT 1 FROM users t WHERE t.id = o.target_id)
           WHEN 'media_files' THEN EXISTS (SELECT 1 FROM media_files t WHERE t.id = o.target_id)
           WHEN 'speaker_profiles' THEN EXISTS (SELECT 1 FROM speaker_profiles t WHERE t.id = o.target_id)
           WHEN 'speakers' THEN EXISTS (SELECT 1 FROM speakers t WHERE t.id = o.target_id)
           WHEN 'tags' THEN EXISTS (SELECT 1 FROM tags t WHERE t.id = o.target_id)
           WHEN 'file_tags' THEN EXISTS (
               SELECT 1 FROM file_tags t
               WHERE t.media_file_id = split_part(o.target_key, ',', 1)::bigint
                 AND t.tag_id = split_part(o.target_key, ',', 2)::bigint)
           WHEN 'speaker_collections' THEN EXISTS (SELECT 1 FROM speaker_collections t WHERE t.id = o.target_id)
           WHEN 'speaker_collection_members' THEN EXISTS (
               SELECT 1 FROM speaker_collection_members t
               WHERE t.collection_id = split_part(o.target_key, ',', 1)::bigint
                 AND t.profile_id = split_part(o.target_key, ',', 2)::bigint)
           WHEN 'comments' THEN EXISTS (SELECT 1 FROM comments t WHERE t.id = o.target_id)
           WHEN 'tasks' THEN EXISTS (SELECT 1 FROM tasks t WHERE t.id = o.target_key)
           WHEN 'analytics' THEN EXISTS (SELECT 1 FROM analytics t WHERE t.id = o.target_id)
           WHEN 'collections' THEN EXISTS (SELECT 1 FROM collections t WHERE t.id = o.target_id)
           WHEN 'collection_members' THEN EXISTS (
               SELECT 1 FROM collection_members t
               WHERE t.collection_id = split_part(o.target_key, ',', 1)::bigint
                 AND t.media_file_id = split_part(o.target_key, ',', 2)::bigint)
           WHEN 'speaker_matches' THEN EXISTS (SELECT 1 FROM speaker_matches t WHERE t.id = o.target_id)
           WHEN 'summary_prompts' THEN EXISTS (SELECT 1 FROM summary_prompts t WHERE t.id = o.target_id)
           WHEN 'user_llm_configurations' THEN EXISTS (
               SELECT 1 FROM user_llm_configurations t WHERE t.id = o.target_id)
           WHEN 'user_settings' THEN EXISTS (SELECT 1 FROM user_settings t WHERE t.id = o.target_id)
           WHEN 'file_summaries' THEN EXISTS (SELECT 1 FROM file_summaries t WHERE t.id = o.target_id)
       END AS present
FROM import_origins o
WHERE o.source = %(source)s AND o.source_table = %(source_table)s;

-- name: remember :exec
INSERT INTO import_origins (source, source_table, source_key, target_id, target_key)
VALUES (%(source)s, %(source_table)s, %(source_key)s, %(target_id)s, %(target_key)s)
ON CONFLICT (source, source_table, source_key) DO NOTHING;

-- name: user :one
WITH created AS (
    INSERT INTO users (email, hashed_password, full_name, is_active, role, created_at)
    VALUES (%(email)s, %(hashed_password)s, %(full_name)s, %(is_active)s, %(role)s, coalesce(%(created_at)s, now()))
    ON CONFLICT ((lower(email))) DO NOTHING
    RETURNING id
)
SELECT id, true AS created FROM created
UNION ALL
SELECT id, false FROM users WHERE lower(email) = lower(%(email)s)
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
    coalesce(%(upload_time)s, now()), %(completed_at)s, %(media_format)s, %(codec)s, %(frame_rate)s, %(frame_count)s,
    %(resolution_width)s, %(resolution_height)s, %(aspect_ratio)s, %(audio_channels)s, %(audio_sample_rate)s,
    %(audio_bit_depth)s, %(creation_date)s, %(last_modified_date)s, %(device_make)s, %(device_model)s,
    %(metadata_raw)s, %(metadata_important)s, %(waveform_data)s, %(progress)s, %(last_error_message)s,
    %(error_category)s)
RETURNING id;

-- name: tag :one
WITH created AS (
    INSERT INTO tags (name, created_at) VALUES (%(name)s, coalesce(%(created_at)s, now()))
    ON CONFLICT (name) DO NOTHING
    RETURNING id
)
SELECT id, true AS created FROM created UNION ALL SELECT id, false FROM tags WHERE name = %(name)s LIMIT 1;

-- name: file_tag :rowcount
INSERT INTO file_tags (media_file_id, tag_id, created_at) VALUES (%(media_file_id)s, %(tag_id)s, coalesce(%(created_at)s, now()))
ON CONFLICT DO NOTHING;

-- name: speaker_profile :one
WITH created AS (
    INSERT INTO speaker_profiles (user_id, name, description, created_at)
    VALUES (%(user_id)s, %(name)s, %(description)s, coalesce(%(created_at)s, now()))
    ON CONFLICT (user_id, name) DO NOTHING
    RETURNING id
)
SELECT id, true AS created FROM created
UNION ALL
SELECT id, false FROM speaker_profiles WHERE user_id = %(user_id)s AND name = %(name)s
LIMIT 1;

-- name: speaker :one
WITH created AS (
    INSERT INTO speakers (media_file_id, user_id, label, display_name, suggested_name, profile_id, verified,
                          confidence, created_at)
    VALUES (%(media_file_id)s, %(user_id)s, %(label)s, %(display_name)s, %(suggested_name)s, %(profile_id)s,
            %(verified)s, %(confidence)s, coalesce(%(created_at)s, now()))
    ON CONFLICT (media_file_id, label) DO NOTHING
    RETURNING id
)
SELECT id, true AS created FROM created
UNION ALL
SELECT id, false FROM speakers WHERE media_file_id = %(media_file_id)s AND label = %(label)s
LIMIT 1;

-- name: speaker_collection :one
WITH created AS (
    INSERT INTO speaker_collections (user_id, name, description, created_at)
    VALUES (%(user_id)s, %(name)s, %(description)s, coalesce(%(created_at)s, now()))
    ON CONFLICT (user_id, name) DO NOTHING
    RETURNING id
)
SELECT id, true AS created FROM created
UNION ALL
SELECT id, false FROM speaker_collections WHERE user_id = %(user_id)s AND name = %(name)s
LIMIT 1;

-- name: speaker_collection_member :rowcount
INSERT INTO speaker_collection_members (collection_id, profile_id, added_at)
VALUES (%(collection_id)s, %(profile_id)s, coalesce(%(added_at)s, now()))
ON CONFLICT DO NOTHING;

-- name: segments :one
-- One file's transcript lines with their source keys, in one statement: lines remembered from an earlier run are
-- only counted (present, or gone when a user deleted them: never added again, never overwritten); the others
-- are inserted, or matched to an identical line already here (the identity index), and remembered. Word timings
-- go to their own table beside the new lines.
WITH source AS (
    -- The origin looked up line by line (a subplan on the primary key): an import_origins that grew by thousands
    -- of rows since it was last analysed must not turn this into a scan of every remembered line, once per file.
    SELECT s.source_key, s.speaker_id, s.start_time, greatest(s.end_time, s.start_time) AS end_time, s.text,
           s.words,
           (SELECT o.target_id FROM import_origins o
            WHERE o.source = %(source)s AND o.source_table = %(source_table)s AND o.source_key = s.source_key
           ) AS origin_id
    FROM unnest(%(source_keys)s::text[], %(speaker_ids)s::bigint[], %(starts)s::float8[], %(ends)s::float8[],
                %(texts)s::text[], %(words)s::jsonb[]) AS s (source_key, speaker_id, start_time, end_time, text, words)
), known AS (
    SELECT EXISTS (SELECT 1 FROM transcript_segments t WHERE t.id = s.origin_id) AS present
    FROM source s WHERE s.origin_id IS NOT NULL
), new AS (
    SELECT * FROM source WHERE origin_id IS NULL
), inserted AS (
    INSERT INTO transcript_segments (media_file_id, speaker_id, start_time, end_time, text)
    SELECT %(media_file_id)s, speaker_id, start_time, end_time, text FROM new
    ON CONFLICT DO NOTHING
    RETURNING id, start_time, end_time, text
), made AS (
    SELECT n.source_key, n.words, i.id AS inserted_id, coalesce(i.id, e.id) AS id
    FROM new n
    LEFT JOIN inserted i ON i.start_time = n.start_time AND i.end_time = n.end_time AND i.text = n.text
    LEFT JOIN transcript_segments e
           ON e.media_file_id = %(media_file_id)s AND e.start_time = n.start_time AND e.end_time = n.end_time
          AND md5(e.text) = md5(n.text)
), timed AS (
    INSERT INTO segment_words (segment_id, words)
    SELECT DISTINCT ON (inserted_id) inserted_id, words::json FROM made
    WHERE inserted_id IS NOT NULL AND words IS NOT NULL
    ON CONFLICT DO NOTHING
), remembered AS (
    INSERT INTO import_origins (source, source_table, source_key, target_id)
    SELECT %(source)s, %(source_table)s, source_key, id FROM made WHERE id IS NOT NULL
    ON CONFLICT DO NOTHING
)
SELECT (SELECT count(DISTINCT inserted_id) FROM made)::int AS copied,
       (SELECT count(id) FROM made)::int - (SELECT count(DISTINCT inserted_id) FROM made)::int
           + (SELECT count(*) FILTER (WHERE present) FROM known)::int AS present,
       (SELECT count(*) FILTER (WHERE NOT present) FROM known)::int AS gone,
       (SELECT count(*) FILTER (WHERE id IS NULL) FROM made)::int AS missed;

-- name: comment :scalar
INSERT INTO comments (media_file_id, user_id, text, timestamp, created_at)
VALUES (%(media_file_id)s, %(user_id)s, %(text)s, %(timestamp)s, coalesce(%(created_at)s, now()))
RETURNING id;

-- name: task :rowcount
INSERT INTO tasks (id, user_id, media_file_id, task_type, status, progress, error_message, created_at, completed_at)
VALUES (%(id)s, %(user_id)s, %(media_file_id)s, %(task_type)s, %(status)s, %(progress)s, %(error_message)s,
        coalesce(%(created_at)s, now()), %(completed_at)s)
ON CONFLICT (id) DO NOTHING;

-- name: analytics :one
WITH created AS (
    INSERT INTO analytics (media_file_id, speaker_stats, keywords, sentiment)
    VALUES (%(media_file_id)s, %(speaker_stats)s, %(keywords)s, %(sentiment)s)
    ON CONFLICT (media_file_id) DO NOTHING
    RETURNING id
)
SELECT id, true AS created FROM created
UNION ALL
SELECT id, false FROM analytics WHERE media_file_id = %(media_file_id)s
LIMIT 1;

-- name: collection :one
WITH created AS (
    INSERT INTO collections (user_id, name, description, created_at)
    VALUES (%(user_id)s, %(name)s, %(description)s, coalesce(%(created_at)s, now()))
    ON CONFLICT (user_id, name) DO NOTHING
    RETURNING id
)
SELECT id, true AS created FROM created
UNION ALL
SELECT id, false FROM collections WHERE user_id = %(user_id)s AND name = %(name)s
LIMIT 1;

-- name: collection_member :rowcount
INSERT INTO collection_members (collection_id, media_file_id, added_at)
VALUES (%(collection_id)s, %(media_file_id)s, coalesce(%(added_at)s, now()))
ON CONFLICT DO NOTHING;

-- name: speaker_match :one
WITH created AS (
    INSERT INTO speaker_matches (speaker1_id, speaker2_id, confidence, created_at)
    VALUES (least(%(a)s::bigint, %(b)s::bigint), greatest(%(a)s::bigint, %(b)s::bigint), %(confidence)s,
            coalesce(%(created_at)s, now()))
    ON CONFLICT (speaker1_id, speaker2_id) DO NOTHING
    RETURNING id
)
SELECT id, true AS created FROM created
UNION ALL
SELECT id, false FROM speaker_matches
WHERE speaker1_id = least(%(a)s::bigint, %(b)s::bigint) AND speaker2_id = greatest(%(a)s::bigint, %(b)s::bigint)
LIMIT 1;

-- name: prompt :one
WITH created AS (
    INSERT INTO summary_prompts (user_id, name, description, prompt_text, content_type, is_active, created_at)
    VALUES (%(user_id)s, %(name)s, %(description)s, %(prompt_text)s, %(content_type)s, %(is_active)s, coalesce(%(created_at)s, now()))
    ON CONFLICT (user_id, name) DO NOTHING
    RETURNING id
)
SELECT id, true AS created FROM created
UNION ALL
SELECT id, false FROM summary_prompts WHERE user_id = %(user_id)s AND name = %(name)s
LIMIT 1;

-- name: setting :one
-- A key the user has here already keeps the user's value.
WITH created AS (
    INSERT INTO user_settings (user_id, key, value, created_at)
    VALUES (%(user_id)s, %(key)s, %(value)s, coalesce(%(created_at)s, now()))
    ON CONFLICT (user_id, key) DO NOTHING
    RETURNING id
)
SELECT id, true AS created FROM created
UNION ALL
SELECT id, false FROM user_settings WHERE user_id = %(user_id)s AND key = %(key)s
LIMIT 1;

-- name: activate_llm_config :rowcount
-- The configuration the old platform marked active becomes the owner's active one, unless they chose one here.
UPDATE user_llm_configurations c SET is_active = true
WHERE c.id = %(id)s
  AND NOT EXISTS (SELECT 1 FROM user_llm_configurations o WHERE o.user_id = c.user_id AND o.is_active);

-- name: file_summary :scalar
-- A summary written by the old platform becomes the file's next version, completed; the file's summary_status
-- says so unless it already says something.
WITH created AS (
    INSERT INTO file_summaries (media_file_id, user_id, provider, model_name, version, status, bluf, brief_summary,
                                major_topics, action_items, key_decisions, follow_up_items, raw_response,
                                completed_at, created_at)
    SELECT m.id, m.user_id, %(provider)s, %(model_name)s,
           coalesce((SELECT max(version) FROM file_summaries f WHERE f.media_file_id = m.id), 0) + 1, 'completed',
           %(bluf)s, %(brief_summary)s, %(major_topics)s, %(action_items)s, %(key_decisions)s, %(follow_up_items)s,
           %(raw_response)s, %(completed_at)s, coalesce(%(completed_at)s, now())
    FROM media_files m WHERE m.id = %(media_file_id)s
    RETURNING id, media_file_id
), file AS (
    UPDATE media_files m SET summary_status = 'completed'
    FROM created WHERE m.id = created.media_file_id AND m.summary_status IS NULL
)
SELECT id FROM created;
