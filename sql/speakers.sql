-- fragment: speaker_columns
-- A speaker as repo.speakers.Speaker reads it, from `sp` (speakers), `f` (its file), `p` (its profile, LEFT JOIN) and
-- `talk` (the speaker_talk fragment). `has_voice`: it has a voice embedding, so a profile can learn it and find it again.
sp.id, sp.uuid, f.uuid AS media_file_uuid, sp.label, sp.display_name, sp.suggested_name, sp.verified,
       sp.confidence, p.uuid AS profile_uuid, p.name AS profile_name, talk.segment_count, talk.talk_time,
       CASE WHEN sp.profile_id IS NOT NULL THEN sp.assigned_by END AS assigned_by,
       sp.embedding IS NOT NULL AS has_voice

-- fragment: speaker_talk
CROSS JOIN LATERAL (
    SELECT count(*) AS segment_count, coalesce(sum(ts.end_time - ts.start_time), 0)::float8 AS talk_time
    FROM transcript_segments ts WHERE ts.speaker_id = sp.id
) talk

-- name: list_for_file :many
-- The file's speakers with their profile and how much each one talks, in one query.
SELECT {{speaker_columns}}
FROM media_files f
JOIN speakers sp ON sp.media_file_id = f.id
LEFT JOIN speaker_profiles p ON p.id = sp.profile_id
{{speaker_talk}}
WHERE f.uuid = %(file_uuid)s AND {{file_readable}}
ORDER BY sp.label;

-- name: get :one
SELECT {{speaker_columns}}
FROM speakers sp
JOIN media_files f ON f.id = sp.media_file_id
LEFT JOIN speaker_profiles p ON p.id = sp.profile_id
{{speaker_talk}}
WHERE sp.uuid = %(speaker_uuid)s AND {{file_readable}};

-- name: update :one?
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
      AND {{file_editable}}
    RETURNING sp.*
)
SELECT {{speaker_columns}}
FROM updated sp
JOIN media_files f ON f.id = sp.media_file_id
LEFT JOIN speaker_profiles p ON p.id = sp.profile_id
{{speaker_talk}};

-- name: assign_profile :one?
-- The profile must belong to the file's owner (and be visible to the actor: their own or shared with them); a NULL profile unassigns. A link made
-- here is the user's (assigned_by 'user'): matching never overwrites it.
WITH target AS (
    SELECT sp.id, f.user_id
    FROM speakers sp JOIN media_files f ON f.id = sp.media_file_id
    WHERE sp.uuid = %(speaker_uuid)s AND {{file_editable}}
), profile AS (
    SELECT p.id
    FROM speaker_profiles p JOIN target t ON t.user_id = p.user_id
    WHERE p.uuid = %(profile_uuid)s::uuid AND {{profile_readable}}
), updated AS (
    UPDATE speakers sp
    SET profile_id = (SELECT id FROM profile),
        assigned_by = CASE WHEN %(profile_uuid)s::uuid IS NULL THEN NULL ELSE 'user' END
    FROM target t
    WHERE sp.id = t.id AND (%(profile_uuid)s::uuid IS NULL OR EXISTS (SELECT 1 FROM profile))
    RETURNING sp.*
)
SELECT {{speaker_columns}}
FROM updated sp
JOIN media_files f ON f.id = sp.media_file_id
LEFT JOIN speaker_profiles p ON p.id = sp.profile_id
{{speaker_talk}};

-- name: lock_merge_pair :one?
-- Both speakers of the one file the actor may edit, locked until the merge commits.
SELECT src.id AS source_id, tgt.id AS target_id
FROM media_files f
JOIN speakers src ON src.media_file_id = f.id AND src.uuid = %(source_uuid)s
JOIN speakers tgt ON tgt.media_file_id = f.id AND tgt.uuid = %(target_uuid)s
WHERE f.uuid = %(file_uuid)s AND {{file_editable}}
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

-- name: speaker_visible :scalar
SELECT EXISTS (
    SELECT 1 FROM speakers sp JOIN media_files f ON f.id = sp.media_file_id
    WHERE sp.uuid = %(speaker_uuid)s AND {{file_readable}}
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
  AND {{file_readable}}
  AND EXISTS (SELECT 1 FROM media_files f WHERE f.id = other_file.id AND {{file_readable}})
ORDER BY m.confidence DESC, m.id;

-- name: create :one?
-- A speaker with no segments yet (to move segments to). Without a label it gets the next free SPEAKER_NN. No row:
-- the file is not the actor's, or it already has a speaker with this label.
WITH f AS (
    SELECT f.id, f.user_id FROM media_files f
    WHERE f.uuid = %(file_uuid)s AND {{file_editable}}
), inserted AS (
    INSERT INTO speakers (media_file_id, user_id, label, display_name)
    SELECT f.id, f.user_id,
           coalesce(%(label)s::text, (
               SELECT 'SPEAKER_' || lpad((coalesce(max(substring(x.label FROM '^SPEAKER_(\d{1,6})$')::int), -1) + 1)::text,
                                         2, '0')
               FROM speakers x WHERE x.media_file_id = f.id)),
           nullif(btrim(%(display_name)s::text), '')
    FROM f
    ON CONFLICT (media_file_id, label) DO NOTHING
    RETURNING *
)
SELECT sp.id, sp.uuid, %(file_uuid)s::uuid AS media_file_uuid, sp.label, sp.display_name, sp.suggested_name,
       sp.verified, sp.confidence, NULL::uuid AS profile_uuid, NULL::text AS profile_name, 0::bigint AS segment_count,
       0::float8 AS talk_time, NULL::text AS assigned_by, false AS has_voice
FROM inserted sp;

-- name: lock_for_delete :one?
-- The speaker the actor may delete, locked, with its segment count, the profile it teaches (its owner's own that
-- it is linked to: that one re-learns; a shared one is not taught by it), and the id of the speaker of the
-- same file its segments should move to (NULL when none was named or it is not a speaker of this file).
SELECT sp.id AS speaker_id,
       (SELECT p.id FROM speaker_profiles p WHERE p.id = sp.profile_id AND p.user_id = sp.user_id) AS profile_id,
       (SELECT count(*) FROM transcript_segments ts WHERE ts.speaker_id = sp.id) AS segment_count,
       tgt.id AS target_id
FROM speakers sp
JOIN media_files f ON f.id = sp.media_file_id
LEFT JOIN speakers tgt ON tgt.media_file_id = f.id AND tgt.uuid = %(target_uuid)s::uuid
WHERE sp.uuid = %(speaker_uuid)s AND {{file_editable}}
FOR UPDATE OF sp;

-- name: delete_by_id :exec
DELETE FROM speakers WHERE id = %(speaker_id)s;

-- name: suggestions :many
-- The profiles suggested for a speaker and still open, best first; `assigned` marks one matching already linked.
SELECT p.uuid AS profile_uuid, p.name AS profile_name, s.confidence::float8 AS confidence,
       coalesce(sp.profile_id = p.id, false) AS assigned
FROM speakers sp
JOIN media_files f ON f.id = sp.media_file_id
JOIN speaker_profile_suggestions s ON s.speaker_id = sp.id AND s.status = 'pending'
JOIN speaker_profiles p ON p.id = s.profile_id
WHERE sp.uuid = %(speaker_uuid)s AND {{file_readable}}
ORDER BY s.confidence DESC, p.name;

-- name: decide_suggestion :one?
-- Record the user's answer about speaker + profile, whether or not it was suggested: a rejection is kept so that
-- matching never suggests the pair again. The profile is the file owner's own, or one shared with them that
-- matching suggested for this speaker or that it is linked to (a team recognises the same voices). No row: either is not the actor's.
-- `taught_profile_id` / `previous_taught_id`: the decided and the previously linked profile when the file owner
-- owns it (NULL otherwise): only those re-learn, as only a profile's owner's speakers teach it (voices.sql).
WITH target AS (
    SELECT sp.id, sp.profile_id, sp.embedding, f.user_id,
           (SELECT pp.id FROM speaker_profiles pp WHERE pp.id = sp.profile_id AND pp.user_id = f.user_id)
               AS taught_id
    FROM speakers sp JOIN media_files f ON f.id = sp.media_file_id
    WHERE sp.uuid = %(speaker_uuid)s AND {{file_editable}}
), profile AS (
    SELECT p.id, p.embedding, p.user_id = t.user_id AS owned
    FROM speaker_profiles p JOIN target t
        ON t.user_id = p.user_id OR p.id = t.profile_id
        OR EXISTS (SELECT 1 FROM speaker_profile_suggestions x WHERE x.speaker_id = t.id AND x.profile_id = p.id)
    WHERE p.uuid = %(profile_uuid)s
)
INSERT INTO speaker_profile_suggestions (speaker_id, profile_id, confidence, status)
SELECT t.id, p.id, greatest(0.0, least(1.0, coalesce(voice_similarity(t.embedding, p.embedding), 1.0))),
       %(status)s
FROM target t, profile p
ON CONFLICT (speaker_id, profile_id) DO UPDATE SET status = EXCLUDED.status
RETURNING speaker_id, profile_id,
          CASE WHEN (SELECT owned FROM profile) THEN profile_id END AS taught_profile_id,
          (SELECT taught_id FROM target) AS previous_taught_id;

-- name: link_accepted :exec
-- An accepted suggestion: the user's own link, verified; a speaker without a name takes the profile's, so that the
-- transcript says who it is.
UPDATE speakers
SET profile_id = %(profile_id)s, assigned_by = 'user', verified = true,
    display_name = coalesce(display_name, (SELECT name FROM speaker_profiles WHERE id = %(profile_id)s))
WHERE id = %(speaker_id)s;

-- name: remember_profile :one?
-- The file owner's profile with this name, created when there is none ("remember this voice"). No row: the speaker
-- is not the actor's.
WITH target AS (
    SELECT f.user_id
    FROM speakers sp JOIN media_files f ON f.id = sp.media_file_id
    WHERE sp.uuid = %(speaker_uuid)s AND {{file_editable}}
), created AS (
    INSERT INTO speaker_profiles (user_id, name)
    SELECT user_id, btrim(%(name)s::text) FROM target
    ON CONFLICT (user_id, name) DO NOTHING
    RETURNING uuid
)
SELECT coalesce(
           (SELECT uuid FROM created),
           (SELECT p.uuid FROM speaker_profiles p JOIN target t ON t.user_id = p.user_id
            WHERE p.name = btrim(%(name)s::text))) AS profile_uuid
FROM target;

-- name: unlink_rejected :exec
-- A rejected profile the speaker was linked to: the link goes (and with it the verification of that link).
UPDATE speakers SET profile_id = NULL, assigned_by = NULL, confidence = NULL, verified = false
WHERE id = %(speaker_id)s AND profile_id = %(profile_id)s;

-- name: summary :many
-- The actor's speakers across files, one entry per person (a profile, else a name, else a label) with how many
-- files they speak in; with a file, only the people who speak in it. A file shared with the actor (readable, as
-- its page) counts with their own: its people are listed, and counted in it and in the actor's own files.
WITH mine AS (
    SELECT sp.media_file_id, p.uuid AS profile_uuid, coalesce(p.name, sp.display_name, sp.label) AS name
    FROM speakers sp
    JOIN media_files f ON f.id = sp.media_file_id
    LEFT JOIN speaker_profiles p ON p.id = sp.profile_id
    WHERE f.user_id = %(actor_id)s OR (f.uuid = %(file_uuid)s::uuid AND {{file_readable}})
), in_file AS (
    SELECT DISTINCT m.profile_uuid, m.name
    FROM mine m JOIN media_files f ON f.id = m.media_file_id
    WHERE f.uuid = %(file_uuid)s::uuid
)
SELECT m.name, m.profile_uuid, count(DISTINCT m.media_file_id) AS file_count, count(*) AS speaker_count
FROM mine m
WHERE %(file_uuid)s::uuid IS NULL
   OR EXISTS (SELECT 1 FROM in_file i WHERE i.name = m.name AND i.profile_uuid IS NOT DISTINCT FROM m.profile_uuid)
GROUP BY m.profile_uuid, m.name
ORDER BY file_count DESC, m.name, m.profile_uuid;
