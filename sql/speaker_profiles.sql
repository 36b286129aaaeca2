-- fragment: profile_columns
-- A profile as repo.speaker_profiles.SpeakerProfile reads it, from `p`: how many speakers are linked to it, in how
-- many files, and how long they talk in all. Scalar subqueries, so that an UPDATE's RETURNING can say it too.
p.id, p.uuid, p.name, p.description,
       (SELECT count(*) FROM speakers sp WHERE sp.profile_id = p.id) AS speaker_count,
       (SELECT count(DISTINCT sp.media_file_id) FROM speakers sp WHERE sp.profile_id = p.id) AS file_count,
       (SELECT coalesce(sum(ts.end_time - ts.start_time), 0)::float8
        FROM speakers sp JOIN transcript_segments ts ON ts.speaker_id = sp.id WHERE sp.profile_id = p.id) AS talk_time,
       p.created_at, p.updated_at

-- name: create :one?
-- No row when the user already has a profile with this name.
INSERT INTO speaker_profiles (user_id, name, description)
VALUES (%(actor_id)s, btrim(%(name)s), %(description)s)
ON CONFLICT (user_id, name) DO NOTHING
RETURNING id, uuid, name, description, 0::bigint AS speaker_count, 0::bigint AS file_count, 0::float8 AS talk_time,
          created_at, updated_at;

-- name: get :one
SELECT {{profile_columns}}
FROM speaker_profiles p
WHERE p.uuid = %(profile_uuid)s AND {{profile_readable}};

-- name: list :many
-- The actor's own profiles and those shared with them, by name (keyset: pass the last name seen).
SELECT {{profile_columns}}
FROM speaker_profiles p
WHERE {{profile_readable}} AND (%(after_name)s::text IS NULL OR p.name > %(after_name)s::text)
ORDER BY p.name
LIMIT %(limit)s;

-- name: update :one?
UPDATE speaker_profiles p
SET name = coalesce(btrim(%(name)s::text), p.name),
    description = coalesce(%(description)s::text, p.description)
WHERE p.uuid = %(profile_uuid)s AND {{profile_owned}}
RETURNING {{profile_columns}};

-- name: forget_links :exec
-- Before a profile is deleted: how its speakers were linked stops meaning anything (the link itself goes with
-- ON DELETE SET NULL).
UPDATE speakers sp SET assigned_by = NULL, confidence = NULL
FROM speaker_profiles p
WHERE sp.profile_id = p.id AND p.uuid = %(profile_uuid)s
  AND {{profile_owned}};

-- name: delete :rowcount
-- Speakers linked to the profile keep existing, unlinked (ON DELETE SET NULL).
DELETE FROM speaker_profiles p
WHERE p.uuid = %(profile_uuid)s AND {{profile_owned}};

-- name: profile_visible :scalar
SELECT EXISTS (
    SELECT 1 FROM speaker_profiles p
    WHERE p.uuid = %(profile_uuid)s AND {{profile_readable}}
) AS visible;

-- name: profile_owned :scalar
SELECT EXISTS (
    SELECT 1 FROM speaker_profiles p
    WHERE p.uuid = %(profile_uuid)s AND {{profile_owned}}
) AS owned;

-- name: occurrences :many
-- Every file where a speaker is linked to the profile, with that speaker's label and talk time, newest file first;
-- how it was linked (assigned_by 'auto' by voice matching, with its confidence, or 'user') and whether verified.
SELECT f.uuid AS file_uuid, f.filename, sp.uuid AS speaker_uuid, sp.label AS speaker_label,
       coalesce(sp.display_name, sp.label) AS speaker_name, count(ts.id) AS segment_count,
       coalesce(sum(ts.end_time - ts.start_time), 0)::float8 AS talk_time,
       sp.assigned_by, sp.verified, sp.confidence::float8 AS confidence
FROM speaker_profiles p
JOIN speakers sp ON sp.profile_id = p.id
JOIN media_files f ON f.id = sp.media_file_id
LEFT JOIN transcript_segments ts ON ts.speaker_id = sp.id
WHERE p.uuid = %(profile_uuid)s
  AND {{profile_readable}}
  AND {{file_readable}}
GROUP BY f.id, sp.id
ORDER BY f.upload_time DESC, f.id DESC, sp.label;

-- name: create_collection :one?
-- No row when the user already has a collection with this name.
INSERT INTO speaker_collections (user_id, name, description)
VALUES (%(actor_id)s, btrim(%(name)s), %(description)s)
ON CONFLICT (user_id, name) DO NOTHING
RETURNING id, uuid, name, description, '{}'::uuid[] AS profile_uuids, created_at, updated_at;

-- name: get_collection :one?
SELECT c.id, c.uuid, c.name, c.description,
       ARRAY(SELECT p.uuid FROM speaker_collection_members m JOIN speaker_profiles p ON p.id = m.profile_id
             WHERE m.collection_id = c.id ORDER BY p.name) AS profile_uuids,
       c.created_at, c.updated_at
FROM speaker_collections c
WHERE c.uuid = %(collection_uuid)s AND (c.user_id = %(actor_id)s OR %(actor_sees_all)s::boolean);

-- name: list_collections :many
-- The actor's own collections with their members, by name (keyset: pass the last name seen).
SELECT c.id, c.uuid, c.name, c.description,
       ARRAY(SELECT p.uuid FROM speaker_collection_members m JOIN speaker_profiles p ON p.id = m.profile_id
             WHERE m.collection_id = c.id ORDER BY p.name) AS profile_uuids,
       c.created_at, c.updated_at
FROM speaker_collections c
WHERE c.user_id = %(actor_id)s AND (%(after_name)s::text IS NULL OR c.name > %(after_name)s::text)
ORDER BY c.name
LIMIT %(limit)s;

-- name: update_collection :one?
UPDATE speaker_collections c
SET name = coalesce(btrim(%(name)s::text), c.name),
    description = coalesce(%(description)s::text, c.description)
WHERE c.uuid = %(collection_uuid)s AND (c.user_id = %(actor_id)s OR %(actor_sees_all)s::boolean)
RETURNING c.id, c.uuid, c.name, c.description,
          ARRAY(SELECT p.uuid FROM speaker_collection_members m JOIN speaker_profiles p ON p.id = m.profile_id
                WHERE m.collection_id = c.id ORDER BY p.name) AS profile_uuids,
          c.created_at, c.updated_at;

-- name: delete_collection :rowcount
DELETE FROM speaker_collections
WHERE uuid = %(collection_uuid)s AND (user_id = %(actor_id)s OR %(actor_sees_all)s::boolean);

-- name: add_members :one?
-- All or nothing: inserts only when every named profile is one of the collection owner's.
WITH c AS (
    SELECT id, user_id FROM speaker_collections
    WHERE uuid = %(collection_uuid)s AND (user_id = %(actor_id)s OR %(actor_sees_all)s::boolean)
), wanted AS (
    SELECT p.id FROM speaker_profiles p JOIN c ON c.user_id = p.user_id
    WHERE p.uuid = ANY(%(profile_uuids)s::uuid[])
), added AS (
    INSERT INTO speaker_collection_members (collection_id, profile_id)
    SELECT c.id, wanted.id FROM c, wanted
    WHERE (SELECT count(*) FROM wanted) = cardinality(%(profile_uuids)s::uuid[])
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM wanted) AS matched, (SELECT count(*) FROM added) AS changed FROM c;

-- name: remove_members :one?
-- All or nothing, like add_members: removes only when every named profile is one of the collection owner's.
WITH c AS (
    SELECT id, user_id FROM speaker_collections
    WHERE uuid = %(collection_uuid)s AND (user_id = %(actor_id)s OR %(actor_sees_all)s::boolean)
), wanted AS (
    SELECT p.id FROM speaker_profiles p JOIN c ON c.user_id = p.user_id
    WHERE p.uuid = ANY(%(profile_uuids)s::uuid[])
), removed AS (
    DELETE FROM speaker_collection_members m
    USING c
    WHERE m.collection_id = c.id AND m.profile_id IN (SELECT id FROM wanted)
      AND (SELECT count(*) FROM wanted) = cardinality(%(profile_uuids)s::uuid[])
    RETURNING 1
)
SELECT (SELECT count(*) FROM wanted) AS matched, (SELECT count(*) FROM removed) AS changed FROM c;

-- name: samples :many
-- A short sample of each named profile's voice, for a play button: the longest segment (at most %(seconds)s s of
-- it) of its speakers, verified ones first. Only its five newest speakers (verified first) are looked at, so the
-- page costs the same for a person heard in a thousand files; no row for a profile whose speakers have no segment.
SELECT p.uuid AS profile_uuid, best.file_uuid, best.start_time, best.end_time
FROM speaker_profiles p
CROSS JOIN LATERAL (
    SELECT f.uuid AS file_uuid, ts.start_time::float8 AS start_time,
           least(ts.end_time, ts.start_time + %(seconds)s::float8)::float8 AS end_time
    FROM (SELECT id, media_file_id, verified FROM speakers
          WHERE profile_id = p.id ORDER BY verified DESC, id DESC LIMIT 5) sp
    JOIN media_files f ON f.id = sp.media_file_id
    JOIN transcript_segments ts ON ts.speaker_id = sp.id
    WHERE {{file_readable}}
    ORDER BY sp.verified DESC, ts.end_time - ts.start_time DESC, ts.id
    LIMIT 1
) best
WHERE p.uuid = ANY(%(profile_uuids)s::uuid[]) AND {{profile_readable}};

-- name: merge_pair :one?
-- The profile kept (the path's) and the one merged into it, locked until the merge commits; both the same user's.
-- Only the owner merges. No row: the kept profile is not the actor's, or the other is not a profile of its owner.
SELECT p.id AS keep_id, gone.id AS gone_id
FROM speaker_profiles p
JOIN speaker_profiles gone ON gone.user_id = p.user_id AND gone.uuid = %(source_profile_uuid)s
WHERE p.uuid = %(profile_uuid)s AND {{profile_owned}}
FOR UPDATE OF p, gone;

-- name: move_suggestions :exec
-- The merged profile's suggestions become the kept one's. Where a speaker has an answer about both, a rejection
-- wins (it is never suggested again), then an acceptance; the higher confidence stays.
WITH moved AS (
    DELETE FROM speaker_profile_suggestions WHERE profile_id = %(gone_id)s
    RETURNING speaker_id, confidence, status
)
INSERT INTO speaker_profile_suggestions (speaker_id, profile_id, confidence, status)
SELECT speaker_id, %(keep_id)s, confidence, status FROM moved
ON CONFLICT (speaker_id, profile_id) DO UPDATE
SET status = CASE WHEN 'rejected' IN (speaker_profile_suggestions.status, EXCLUDED.status) THEN 'rejected'
                  WHEN 'accepted' IN (speaker_profile_suggestions.status, EXCLUDED.status) THEN 'accepted'
                  ELSE 'pending' END,
    confidence = greatest(speaker_profile_suggestions.confidence, EXCLUDED.confidence);

-- name: move_speakers :exec
-- The merged profile's speakers are the kept one's, linked and verified as they were.
UPDATE speakers SET profile_id = %(keep_id)s WHERE profile_id = %(gone_id)s;

-- name: move_members :exec
INSERT INTO speaker_collection_members (collection_id, profile_id)
SELECT collection_id, %(keep_id)s FROM speaker_collection_members WHERE profile_id = %(gone_id)s
ON CONFLICT DO NOTHING;

-- name: absorb :exec
-- The merged profile goes (what was left of it cascades); the kept one takes its description when it has none.
WITH gone AS (DELETE FROM speaker_profiles WHERE id = %(gone_id)s RETURNING description)
UPDATE speaker_profiles SET description = coalesce(speaker_profiles.description, (SELECT description FROM gone))
WHERE id = %(keep_id)s;
