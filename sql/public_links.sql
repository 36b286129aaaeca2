-- Public links: read-only links to one file, addressed by a secret token of which only the SHA-256 is stored.
-- The owner's side (create, list, revoke) is scoped by the file_owned fragment (repo/access.py tells 404 from 403);
-- the public side (use, state) is addressed by the token's hash alone: holding the token is the permission.

-- name: create :one?
-- No row: the file is not the actor's to link.
INSERT INTO public_links (media_file_id, token_hash, created_by, expires_at)
SELECT f.id, %(token_hash)s::bytea, %(actor_id)s::bigint, %(expires_at)s::timestamptz
FROM media_files f
WHERE f.uuid = %(file_uuid)s AND {{file_owned}}
RETURNING uuid, created_at, expires_at, revoked_at, use_count, last_used_at;

-- name: list_for_file :many
-- Newest first; the token is never read back (only its hash is stored).
SELECT l.uuid, l.created_at, l.expires_at, l.revoked_at, l.use_count, l.last_used_at
FROM media_files f
JOIN public_links l ON l.media_file_id = f.id
WHERE f.uuid = %(file_uuid)s AND {{file_owned}}
ORDER BY l.created_at DESC, l.id DESC;

-- name: revoke :one?
-- No row: no such live link of this file of the actor's (unknown, another file's, or revoked already).
UPDATE public_links l
SET revoked_at = now()
FROM media_files f
WHERE l.uuid = %(link_uuid)s AND l.revoked_at IS NULL
  AND f.id = l.media_file_id AND f.uuid = %(file_uuid)s AND {{file_owned}}
RETURNING l.uuid, l.created_at, l.expires_at, l.revoked_at, l.use_count, l.last_used_at;

-- name: exists_for_file :scalar
-- Tells "revoked already" (409) from "no such link" (404) after `revoke` changed nothing.
SELECT EXISTS (
    SELECT 1 FROM media_files f JOIN public_links l ON l.media_file_id = f.id
    WHERE l.uuid = %(link_uuid)s AND f.uuid = %(file_uuid)s AND {{file_owned}}
) AS found;

-- name: use :one?
-- One use of a live link, counted atomically (concurrent views each add one). No row: unknown, expired or revoked.
UPDATE public_links l
SET use_count = l.use_count + 1, last_used_at = now()
FROM media_files f
WHERE l.token_hash = %(token_hash)s AND f.id = l.media_file_id
  AND l.revoked_at IS NULL AND (l.expires_at IS NULL OR l.expires_at > now())
RETURNING f.uuid AS file_uuid, f.user_id AS owner_id, l.expires_at, true AS live, l.uuid AS link_uuid;

-- name: state :one?
-- The link without counting a use (the media's range requests; telling 404 from 410). No row: unknown.
SELECT f.uuid AS file_uuid, f.user_id AS owner_id, l.expires_at,
       (l.revoked_at IS NULL AND (l.expires_at IS NULL OR l.expires_at > now())) AS live, l.uuid AS link_uuid
FROM public_links l
JOIN media_files f ON f.id = l.media_file_id
WHERE l.token_hash = %(token_hash)s;
