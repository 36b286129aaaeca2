-- Step 17: people work together. Groups of users (an owner or a member each); shares of a file, a collection (its
-- files, present and future) or a speaker profile with a user or a group as viewer, commenter or editor; public
-- links to one file. What a person may do with a file is decided in one place, `shared_files(actor)` below, which
-- the SQL fragments `file_readable` / `file_commentable` / `file_editable` (sql/fragments.sql) and the row-level
-- security policies both use.
-- depends: 0012_edit_versions

CREATE TABLE groups (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description text CHECK (length(description) <= 2000),
    created_by bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX groups_created_by_idx ON groups (created_by);
CREATE TRIGGER groups_updated_at BEFORE UPDATE ON groups FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE group_members (
    group_id bigint NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role text NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'member')),
    added_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user_id_idx ON group_members (user_id, group_id);

-- One row grants one grantee (a user or a group) one role on one object (a file, a collection or a speaker profile).
-- A role is a rank: viewer 1 (read, play, export), commenter 2 (+ comments), editor 3 (+ edit segments, speakers,
-- tags, re-run); the owner (rank 4) is media_files.user_id and is never a share.
CREATE TABLE shares (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    media_file_id bigint REFERENCES media_files (id) ON DELETE CASCADE,
    collection_id bigint REFERENCES collections (id) ON DELETE CASCADE,
    speaker_profile_id bigint REFERENCES speaker_profiles (id) ON DELETE CASCADE,
    user_id bigint REFERENCES users (id) ON DELETE CASCADE,
    group_id bigint REFERENCES groups (id) ON DELETE CASCADE,
    role text NOT NULL CHECK (role IN ('viewer', 'commenter', 'editor')),
    rank smallint GENERATED ALWAYS AS (CASE role WHEN 'editor' THEN 3 WHEN 'commenter' THEN 2 ELSE 1 END) STORED,
    shared_by bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT shares_one_object_check CHECK (num_nonnulls(media_file_id, collection_id, speaker_profile_id) = 1),
    CONSTRAINT shares_one_grantee_check CHECK (num_nonnulls(user_id, group_id) = 1)
);
-- One share per object and grantee: sharing again changes the role (an upsert on these).
CREATE UNIQUE INDEX shares_file_user_key ON shares (media_file_id, user_id) WHERE media_file_id IS NOT NULL AND user_id IS NOT NULL;
CREATE UNIQUE INDEX shares_file_group_key ON shares (media_file_id, group_id) WHERE media_file_id IS NOT NULL AND group_id IS NOT NULL;
CREATE UNIQUE INDEX shares_collection_user_key ON shares (collection_id, user_id) WHERE collection_id IS NOT NULL AND user_id IS NOT NULL;
CREATE UNIQUE INDEX shares_collection_group_key ON shares (collection_id, group_id) WHERE collection_id IS NOT NULL AND group_id IS NOT NULL;
CREATE UNIQUE INDEX shares_profile_user_key ON shares (speaker_profile_id, user_id) WHERE speaker_profile_id IS NOT NULL AND user_id IS NOT NULL;
CREATE UNIQUE INDEX shares_profile_group_key ON shares (speaker_profile_id, group_id) WHERE speaker_profile_id IS NOT NULL AND group_id IS NOT NULL;
-- "What is shared with me": by grantee first.
CREATE INDEX shares_user_id_idx ON shares (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX shares_group_id_idx ON shares (group_id) WHERE group_id IS NOT NULL;
CREATE INDEX shares_shared_by_idx ON shares (shared_by);

-- A read-only link to one file for people without an account. Only the SHA-256 of the token is stored.
CREATE TABLE public_links (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    media_file_id bigint NOT NULL REFERENCES media_files (id) ON DELETE CASCADE,
    token_hash bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    created_by bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    revoked_at timestamptz,
    use_count bigint NOT NULL DEFAULT 0 CHECK (use_count >= 0),
    last_used_at timestamptz,
    CHECK (expires_at IS NULL OR expires_at > created_at)
);
CREATE INDEX public_links_media_file_id_idx ON public_links (media_file_id);
CREATE INDEX public_links_created_by_idx ON public_links (created_by);

-- The files shared with `actor` (directly, through a group, or through a collection the file is in, present or
-- future) with the highest rank any of those shares gives. Own files are not listed: `media_files.user_id = actor`
-- says that, and an index answers it. A single-statement SQL function, so the planner inlines it into the query.
CREATE FUNCTION shared_files(actor bigint) RETURNS TABLE (media_file_id bigint, rank smallint)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT g.media_file_id, max(g.rank)::smallint
    FROM (
        SELECT s.media_file_id, s.rank
        FROM shares s
        WHERE s.media_file_id IS NOT NULL
          AND (s.user_id = actor OR s.group_id IN (SELECT gm.group_id FROM group_members gm WHERE gm.user_id = actor))
        UNION ALL
        SELECT cm.media_file_id, s.rank
        FROM shares s JOIN collection_members cm ON cm.collection_id = s.collection_id
        WHERE s.collection_id IS NOT NULL
          AND (s.user_id = actor OR s.group_id IN (SELECT gm.group_id FROM group_members gm WHERE gm.user_id = actor))
    ) g
    GROUP BY g.media_file_id
$$;
