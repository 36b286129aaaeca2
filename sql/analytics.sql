-- name: upsert :one
INSERT INTO analytics (media_file_id, speaker_stats, keywords, sentiment)
VALUES (%(file_id)s, %(speaker_stats)s, %(keywords)s, %(sentiment)s)
ON CONFLICT (media_file_id) DO UPDATE
SET speaker_stats = EXCLUDED.speaker_stats, keywords = EXCLUDED.keywords, sentiment = EXCLUDED.sentiment
RETURNING id, media_file_id, speaker_stats, keywords, sentiment, created_at, updated_at;

-- name: get_for_file :one?
SELECT a.id, a.media_file_id, a.speaker_stats, a.keywords, a.sentiment, a.created_at, a.updated_at
FROM analytics a
JOIN media_files m ON m.id = a.media_file_id
WHERE m.uuid = %(file_uuid)s AND (m.user_id = %(actor_id)s OR %(actor_is_admin)s::boolean);

-- name: delete_for_file :rowcount
-- Partial results of a cancelled job go with it.
DELETE FROM analytics WHERE media_file_id = %(file_id)s;
