-- `db restore` (repo/backup.py). The role row-level security applies to (migration 0014) belongs to the server, not
-- to a database, so a dump does not carry it: on a new server it must exist, and the restoring user must be a
-- member of it, before the dump's grants to it are restored. Nothing happens where both are so already; creating it
-- needs a superuser or CREATEROLE (otherwise an operator runs README's two statements first). Full-text search's
-- operator is marked LEAKPROOF per database, in pg_catalog, which no dump holds: done again here as migration 0014
-- does it, when the restoring user is a superuser.

-- name: ensure_app_role :exec
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'opentr_app') THEN
        CREATE ROLE opentr_app NOLOGIN;
    END IF;
    IF NOT pg_has_role(current_user, 'opentr_app', 'MEMBER') THEN
        EXECUTE 'GRANT opentr_app TO ' || quote_ident(current_user);
    END IF;
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        ALTER FUNCTION pg_catalog.ts_match_vq(tsvector, tsquery) LEAKPROOF;
    END IF;
END
$$;
