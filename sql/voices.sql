-- Voice embeddings and matching across a user's files. Every embedding is stored at unit length, so the cosine
-- similarity is a dot product (voice_similarity). A full scan computing it for every stored speaker costs ~30 µs
-- per 256-d pair, too slow for a user with 20,000 speakers (bench/README.md §7), so each embedding also carries a
-- 256-bit SimHash signature (repo/voices.py) and candidates are screened by Hamming distance first, on an
-- index-only scan of speakers_voice_idx; only the candidates' embeddings are read and compared exactly.
-- Matching never leaves the file owner's rows (every join is on user_id = %(user_id)s), except that profiles shared
-- with the owner are suggested too (match_profiles).

-- name: set_speaker_embedding :rowcount
UPDATE speakers
SET embedding = %(embedding)s::real[], embedding_signature = %(signature)s::bit(256), embedding_seconds = %(seconds)s
WHERE media_file_id = %(file_id)s AND label = %(label)s;

-- name: clear_file_matches :exec
-- A file processed again is matched afresh: its pending suggestions, its automatic profile links and its speaker
-- pairs go. What the user decided stays: rejections, accepted suggestions, links made or verified by hand.
WITH mine AS (SELECT id FROM speakers WHERE media_file_id = %(file_id)s),
gone AS (
    DELETE FROM speaker_profile_suggestions
    WHERE speaker_id IN (SELECT id FROM mine) AND status = 'pending'
), unlinked AS (
    UPDATE speakers SET profile_id = NULL, assigned_by = NULL, confidence = NULL
    WHERE media_file_id = %(file_id)s AND assigned_by = 'auto' AND NOT verified
)
DELETE FROM speaker_matches
WHERE speaker1_id IN (SELECT id FROM mine) OR speaker2_id IN (SELECT id FROM mine);

-- name: match_profiles :many
-- The file's speakers against the profiles the owner may read: their own and those shared with them (a team
-- recognises the same voices; sql/fragments.sql profile_readable, the owner as the actor). Pairs at or above
-- %(suggest)s become pending suggestions, or refresh the confidence of an existing one (a rejected or accepted
-- suggestion keeps its status).
WITH new AS (
    SELECT id, embedding, embedding_signature FROM speakers
    WHERE media_file_id = %(file_id)s AND user_id = %(user_id)s AND embedding IS NOT NULL
), found AS (
    SELECT new.id AS speaker_id, p.id AS profile_id, voice_similarity(new.embedding, p.embedding) AS similarity
    FROM new
    JOIN speaker_profiles p ON {{profile_readable}} AND p.embedding_signature IS NOT NULL
    WHERE bit_count(new.embedding_signature # p.embedding_signature) <= %(max_bits)s
), kept AS (
    SELECT speaker_id, profile_id, least(1.0, similarity) AS similarity FROM found WHERE similarity >= %(suggest)s
), upserted AS (
    INSERT INTO speaker_profile_suggestions (speaker_id, profile_id, confidence)
    SELECT speaker_id, profile_id, similarity FROM kept
    ON CONFLICT (speaker_id, profile_id) DO UPDATE SET confidence = EXCLUDED.confidence
    RETURNING speaker_id, profile_id, status
)
SELECT k.speaker_id, k.profile_id, k.similarity, u.status
FROM kept k JOIN upserted u USING (speaker_id, profile_id)
ORDER BY k.speaker_id, k.similarity DESC, k.profile_id;

-- name: auto_assign :many
-- Each speaker of the file whose best pending suggestion reaches %(auto_assign)s gets that profile, saying so
-- (assigned_by 'auto', confidence), unless the user already decided: a verified speaker or a link the user made
-- is never overwritten. Only the owner's own profiles are linked automatically: one shared with them stays a
-- suggestion, which they may accept (a link to another's profile is a person's decision, not a machine's).
WITH best AS (
    SELECT DISTINCT ON (s.speaker_id) s.speaker_id, s.profile_id, s.confidence
    FROM speaker_profile_suggestions s
    JOIN speakers sp ON sp.id = s.speaker_id
    JOIN speaker_profiles p ON p.id = s.profile_id AND p.user_id = sp.user_id
    WHERE sp.media_file_id = %(file_id)s AND s.status = 'pending' AND s.confidence >= %(auto_assign)s
    ORDER BY s.speaker_id, s.confidence DESC, s.profile_id
)
UPDATE speakers sp
SET profile_id = best.profile_id, assigned_by = 'auto', confidence = best.confidence
FROM best
WHERE sp.id = best.speaker_id AND NOT sp.verified AND (sp.profile_id IS NULL OR sp.assigned_by = 'auto')
RETURNING sp.id AS speaker_id, sp.profile_id, sp.confidence::float8 AS similarity;

-- name: match_speakers :rowcount
-- The file's speakers against the owner's speakers in other files: every pair at or above %(suggest)s is a
-- speaker_matches row. The candidates come from the signatures alone (an index-only scan), materialized so that
-- only their embeddings are read.
WITH new AS (
    SELECT id, embedding, embedding_signature FROM speakers
    WHERE media_file_id = %(file_id)s AND user_id = %(user_id)s AND embedding IS NOT NULL
), candidates AS MATERIALIZED (
    SELECT new.id AS new_id, other.id AS other_id
    FROM new
    JOIN speakers other ON other.user_id = %(user_id)s AND other.embedding_signature IS NOT NULL
        AND other.media_file_id <> %(file_id)s
    WHERE bit_count(new.embedding_signature # other.embedding_signature) <= %(max_bits)s
), found AS (
    SELECT c.new_id, c.other_id, voice_similarity(new.embedding, other.embedding) AS similarity
    FROM candidates c JOIN new ON new.id = c.new_id JOIN speakers other ON other.id = c.other_id
)
INSERT INTO speaker_matches (speaker1_id, speaker2_id, confidence)
SELECT least(new_id, other_id), greatest(new_id, other_id), least(1.0, similarity)
FROM found
WHERE similarity >= %(suggest)s
ON CONFLICT (speaker1_id, speaker2_id) DO UPDATE SET confidence = EXCLUDED.confidence;

-- name: profile_of :one?
-- Internal: the profile a speaker teaches (to re-learn it after a change): the one it is linked to when that is its
-- owner's own. A link to a profile shared with the owner teaches nothing (NULL): only a profile's owner's verified
-- speakers change its voice, never a viewer's. No row for an unknown speaker.
SELECT p.id AS profile_id
FROM speakers sp LEFT JOIN speaker_profiles p ON p.id = sp.profile_id AND p.user_id = sp.user_id
WHERE sp.uuid = %(speaker_uuid)s;

-- name: verified_embeddings :many
-- What a profile learns from: the embeddings of its owner's verified speakers, with the seconds of speech behind
-- each. Speakers of those it is shared with, linked and verified, are recognised by it but never teach it.
SELECT sp.profile_id, sp.embedding, coalesce(sp.embedding_seconds, 0)::float8 AS seconds
FROM speakers sp JOIN speaker_profiles p ON p.id = sp.profile_id AND p.user_id = sp.user_id
WHERE sp.profile_id = ANY(%(profile_ids)s::bigint[]) AND sp.verified AND sp.embedding IS NOT NULL
ORDER BY sp.profile_id, sp.id;

-- name: set_profile_embedding :exec
UPDATE speaker_profiles
SET embedding = %(embedding)s::real[], embedding_signature = %(signature)s::bit(256), embedding_weight = %(weight)s
WHERE id = %(profile_id)s;

-- name: profile_voices :many
-- The stored voices of some profiles with what they were learnt from (their weight), e.g. before a merge.
SELECT id AS profile_id, embedding, embedding_weight::float8 AS weight
FROM speaker_profiles
WHERE id = ANY(%(profile_ids)s::bigint[]) AND embedding IS NOT NULL
ORDER BY id;
