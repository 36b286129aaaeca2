-- Deleting one's own account (repo/accounts.py). Everything of the person goes by the foreign keys' ON DELETE
-- CASCADE from `users` (files and all derived rows, tokens, settings, identities, notifications, questions, exports,
-- memberships, shares to them); groups they created stay for their other members (created_by nulled). Two things
-- are done here by name: the shares they made (shared_by is nulled by the schema, which keeps others' grants) and
-- the list of stored objects to remove after the commit.

-- name: lock_account :one?
-- The account, locked against a concurrent change of its role (a last administrator demoted meanwhile).
SELECT id, email, role, is_active, hashed_password FROM users WHERE id = %(user_id)s FOR UPDATE;

-- name: other_active_admins :scalar
-- Locked too, so that two last administrators deleting themselves at once cannot both succeed.
SELECT count(*) FROM (
    SELECT id FROM users WHERE role = 'admin' AND is_active AND id <> %(user_id)s ORDER BY id FOR UPDATE
) admins;

-- name: stored_objects :many
-- What storage holds for the person, before their rows go: each file's media (its companions are derived from it:
-- storage/layout.py), a video's thumbnail, and the archives of their exports.
SELECT storage_path AS key FROM media_files WHERE user_id = %(user_id)s
UNION
SELECT thumbnail_path FROM media_files WHERE user_id = %(user_id)s AND thumbnail_path IS NOT NULL
UNION
SELECT storage_key FROM data_exports WHERE user_id = %(user_id)s AND storage_key IS NOT NULL
ORDER BY 1;

-- name: delete_shares_made :rowcount
DELETE FROM shares WHERE shared_by = %(user_id)s;

-- name: delete_account :rowcount
DELETE FROM users WHERE id = %(user_id)s;
