-- name: list_for_file :many
-- The file's speakers with their profile and how much each one talks, in one query.
SELECT sp.id, sp.uuid, f.uuid AS media_file_uuid, sp.label, sp.display_name, sp.suggested_name, sp.verified,
       sp.confidence, p.uuid AS profile_uuid, p.name AS profile_name, talk.segment_count, talk.talk_time
FROM media_files f
JOIN speakers sp ON sp.media_file_id = f.id
LEFT JOIN speaker_profiles p ON p.id = sp.profile_id
CROSS JOIN LATERAL (
    SELECT count(*) AS segment_count, coalesce(sum(ts.end_time - ts.start_time), 0)::float8 AS talk_time
    FROM transcript_segments ts WHERE ts.speaker_id = sp.id
) talk
WHERE f.uuid = %(file_uuid)s AND (f.user_id = %(actor_id)s OR %(actor_is_admin)s::boolean)
ORDER BY sp.label;

-- name: get :one
SELECT sp.id, sp.uuid, f.uuid AS media_file_uuid, sp.label, sp.display_name, sp.suggested_name, sp.verified,
       sp.confidence, p.uuid AS profile_uuid, p.name AS profile_name, talk.segment_count, talk.talk_time
FROM speakers sp
JOIN media_files f ON f.id = sp.media_file_id
LEFT JOIN speaker_profiles p ON p.id = sp.profile_id
CROSS JOIN LATERAL (
    SELECT count(*) AS segment_count, coalesce(sum(ts.end_time - ts.start_time), 0)::float8 AS talk_time
    FROM transcript_segments ts WHERE ts.speaker_id = sp.id
) talk
WHERE sp.uuid = %(speaker_uuid)s AND (f.user_id = %(actor_id)s OR %(actor_is_admin)s::boolean);

-- name: update :one
-- NULL leaves a field as it is; an empty (or blank) name clears it.
WITH updated AS (
    UPDATE speakers sp
    SET display_name = CASE WHEN %(display_name)s::text IS NULL THEN sp.display_name
                            ELSE nullif(btrim(%(display_name)s::text), '') END,
        suggested_name = CASE WHEN %(suggested_name)s::text IS NULL THEN sp.suggested_name
                              ELSE nullif(btrim(%(suggested_name)s::text), '') END,
        verified = coalesce(%(verified)s::boolean, sp.verified)
    FROM media_files f
    WHERE f.id = sp.media_file_id AND sp.uuid = %(speaker_uuid)s
      AND (f.user_id = %(actor_id)s OR %(actor_is_admin)s::boolean)
    RETURNING sp.*
)
SELECT sp.id, sp.uuid, f.uuid AS media_file_uuid, sp.label, sp.display_name, sp.suggested_name, sp.verified,
       sp.confidence, p.uuid AS profile_uuid, p.name AS profile_name, talk.segment_count, talk.talk_time
FROM updated sp
JOIN media_files f ON f.id = sp.media_file_id
LEFT JOIN speaker_profiles p ON p.id = sp.profile_id
CROSS JOIN LATERAL (
    SELECT count(*) AS segment_count, coalesce(sum(ts.end_time - ts.start_time), 0)::float8 AS talk_time
    FROM transcript_segments ts WHERE ts.speaker_id = sp.id
) talk;

-- name: assign_profile :one?
-- The profile must belong to the file's owner (and be visible to the actor); a NULL profile unassigns.
WITH target AS (
    SELECT sp.id, f.user_id
    FROM speakers sp JOIN media_files f ON f.id = sp.media_file_id
    WHERE sp.uuid = %(speaker_uuid)s AND (f.user_id = %(actor_id)s OR %(actor_is_admin)s::boolean)
), profile AS (
    SELECT p.id
    FROM speaker_profiles p JOIN target t ON t.user_id = p.user_id
    WHERE p.uuid = %(profile_uuid)s::uuid AND (p.user_id = %(actor_id)s OR %(actor_is_admin)s::boolean)
), updated AS (
    UPDATE speakers sp SET profile_id = (SELECT id FROM profile)
    FROM target t
    WHERE sp.id = t.id AND (%(profile_uuid)s::uuid IS NULL OR EXISTS (SELECT 1 FROM profile))
    RETURNING sp.*
)
SELECT sp.id, sp.uuid, f.uuid AS media_file_uuid, sp.label, sp.display_name, sp.suggested_name, sp.verified,
       sp.confidence, p.uuid AS profile_uuid, p.name AS profile_name, talk.segment_count, talk.talk_time
FROM updated sp
JOIN media_files f ON f.id = sp.media_file_id
LEFT JOIN speaker_profiles p ON p.id = sp.profile_id
CROSS JOIN LATERAL (
    SELECT count(*) AS segment_count, coalesce(sum(ts.end_time - ts.start_time), 0)::float8 AS talk_time
    FROM transcript_segments ts WHERE ts.speaker_id = sp.id
) talk;

-- name: lock_merge_pair :one
-- Both speakers of the one file the actor may edit, locked until the merge commits.
SELECT src.id AS source_id, tgt.id AS target_id
FROM media_files f
JOIN speakers src ON src.media_file_id = f.id AND src.uuid = %(source_uuid)s
JOIN speakers tgt ON tgt.media_file_id = f.id AND tgt.uuid = %(target_uuid)s
WHERE f.uuid = %(file_uuid)s AND (f.user_id = %(actor_id)s OR %(actor_is_admin)s::boolean)
FOR UPDATE OF src, tgt;

-- name: move_segments :exec
UPDATE transcript_segments SET speaker_id = %(target_id)s WHERE speaker_id = %(source_id)s;

-- name: move_matches :exec
-- The source's matches become the target's, kept ordered (smaller id first); where the target already has a match
-- with the same speaker the higher confidence wins, and the source-target match itself disappears.
WITH moved AS (
    DELETE FROM speaker_matches
    WHERE speaker1_id = %(source_id)s OR speaker2_id = %(source_id)s
    RETURNING CASE WHEN speaker1_id = %(source_id)s THEN speaker2_id ELSE speaker1_id END AS other_id, confidence
)
INSERT INTO speaker_matches (speaker1_id, speaker2_id, confidence)
SELECT least(%(target_id)s::bigint, other_id), greatest(%(target_id)s::bigint, other_id), confidence
FROM moved
WHERE other_id <> %(target_id)s
ON CONFLICT (speaker1_id, speaker2_id)
DO UPDATE SET confidence = greatest(speaker_matches.confidence, EXCLUDED.confidence);

-- name: absorb_source :exec
-- Deletes the source; the target inherits the names and profile it does not have yet.
WITH source AS (
    DELETE FROM speakers WHERE id = %(source_id)s
    RETURNING display_name, suggested_name, profile_id, verified
)
UPDATE speakers t
SET display_name = coalesce(t.display_name, source.display_name),
    suggested_name = coalesce(t.suggested_name, source.suggested_name),
    profile_id = coalesce(t.profile_id, source.profile_id)
FROM source
WHERE t.id = %(target_id)s;

-- name: upsert_match :scalar
INSERT INTO speaker_matches (speaker1_id, speaker2_id, confidence)
VALUES (least(%(speaker_a_id)s::bigint, %(speaker_b_id)s::bigint),
        greatest(%(speaker_a_id)s::bigint, %(speaker_b_id)s::bigint), %(confidence)s)
ON CONFLICT (speaker1_id, speaker2_id) DO UPDATE SET confidence = EXCLUDED.confidence
RETURNING id;

-- name: speaker_visible :scalar
SELECT EXISTS (
    SELECT 1 FROM speakers sp JOIN media_files f ON f.id = sp.media_file_id
    WHERE sp.uuid = %(speaker_uuid)s AND (f.user_id = %(actor_id)s OR %(actor_is_admin)s::boolean)
) AS visible;

-- name: matches_for :many
-- The speakers matched with this one (either side of the pair), best match first; only speakers of files the
-- actor may see.
SELECT m.id, other.uuid AS speaker_uuid, other.label AS speaker_label,
       coalesce(other.display_name, other.label) AS speaker_name,
       other_file.uuid AS media_file_uuid, other_file.filename, m.confidence
FROM speakers sp
JOIN media_files f ON f.id = sp.media_file_id
CROSS JOIN LATERAL (
    SELECT id, speaker2_id AS other_id, confidence FROM speaker_matches WHERE speaker1_id = sp.id
    UNION ALL
    SELECT id, speaker1_id, confidence FROM speaker_matches WHERE speaker2_id = sp.id
) m
JOIN speakers other ON other.id = m.other_id
JOIN media_files other_file ON other_file.id = other.media_file_id
WHERE sp.uuid = %(speaker_uuid)s
  AND (f.user_id = %(actor_id)s OR %(actor_is_admin)s::boolean)
  AND (other_file.user_id = %(actor_id)s OR %(actor_is_admin)s::boolean)
ORDER BY m.confidence DESC, m.id;
