-- Speaker names a language model proposed from what was said (migration 0024, repo/speaker_name_proposals.py):
-- rows of a `speaker_names` run, seen by whoever sees the file, decided (accepted or rejected) by its editors.

-- fragment: proposal_columns
-- A proposal as repo.speaker_name_proposals.Proposal reads it, from `p` (the proposal), `r` (its run), `sp` (its
-- speaker), `f` (the file) and `u` (who decided, LEFT JOIN).
p.id, p.uuid, r.uuid AS run_uuid, f.uuid AS media_file_uuid, sp.uuid AS speaker_uuid, sp.label AS speaker_label,
       sp.display_name AS speaker_name, p.name, round(p.confidence::numeric, 4)::float8 AS confidence, p.evidence, p.status,
       u.uuid AS decided_by_uuid, p.decided_at, p.created_at

-- name: create_many :rowcount
-- The run's proposals, given as a JSON array of {speaker_uuid, name, confidence, evidence}; a speaker that is no
-- longer one of the run's file (merged or deleted meanwhile) is left out.
INSERT INTO speaker_name_proposals (run_id, speaker_id, name, confidence, evidence)
SELECT r.id, sp.id, x.name, x.confidence, x.evidence
FROM jsonb_to_recordset(%(proposals)s::jsonb) AS x(speaker_uuid uuid, name text, confidence real, evidence jsonb)
JOIN speakers sp ON sp.uuid = x.speaker_uuid
JOIN llm_runs r ON r.id = %(run_id)s AND r.media_file_id = sp.media_file_id;

-- name: of_run :many
-- A run's proposals by speaker label, the most confident first.
SELECT {{proposal_columns}}
FROM llm_runs r
JOIN media_files f ON f.id = r.media_file_id
JOIN speaker_name_proposals p ON p.run_id = r.id
JOIN speakers sp ON sp.id = p.speaker_id
LEFT JOIN users u ON u.id = p.decided_by
WHERE r.uuid = %(run_uuid)s AND {{file_readable}}
ORDER BY sp.label, p.confidence DESC, p.name, p.id;

-- name: get :one?
SELECT {{proposal_columns}}
FROM speaker_name_proposals p
JOIN llm_runs r ON r.id = p.run_id
JOIN speakers sp ON sp.id = p.speaker_id
JOIN media_files f ON f.id = sp.media_file_id
LEFT JOIN users u ON u.id = p.decided_by
WHERE p.uuid = %(uuid)s AND {{file_readable}};

-- name: decide :one?
-- Accept or reject a proposal still open, as an editor of its file. No row: it is decided already, or the actor
-- may not decide it (the repository tells which).
WITH target AS (
    SELECT p.id
    FROM speaker_name_proposals p
    JOIN speakers sp ON sp.id = p.speaker_id
    JOIN media_files f ON f.id = sp.media_file_id
    WHERE p.uuid = %(uuid)s AND p.status = 'proposed' AND {{file_editable}}
    FOR UPDATE OF p
), decided AS (
    UPDATE speaker_name_proposals p
    SET status = %(status)s, decided_by = %(actor_id)s, decided_at = now()
    FROM target
    WHERE p.id = target.id
    RETURNING p.*
)
SELECT {{proposal_columns}}
FROM decided p
JOIN llm_runs r ON r.id = p.run_id
JOIN speakers sp ON sp.id = p.speaker_id
JOIN media_files f ON f.id = sp.media_file_id
LEFT JOIN users u ON u.id = p.decided_by;
