"""`db backup` / `db restore`: pg_dump's custom format, with progress.

A restore carries the dump's grants (what the application's role `opentr_app` may do to each table: row-level
security depends on them) but not the role itself, which belongs to the server: on a new server it is created first
(sql/backup.sql). Owners are not restored: the restoring user owns everything, as the migrating user did.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg import sql

from repo import pgtools
from repo import statements as s
from repo.schema import database_name, with_database

_ensure_app_role = s.execute("backup.ensure_app_role")


def default_path(directory: Path, conninfo: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return directory / f"{database_name(conninfo)}-{stamp}.dump"


def backup(conninfo: str, path: Path, progress: pgtools.Progress | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".partial")
    try:
        pgtools.run("pg_dump", ["--format=custom", "--verbose", "--file", str(partial), "-d", conninfo], progress)
    except BaseException:
        partial.unlink(missing_ok=True)  # no half-written dump left behind: it may be what filled the disk
        raise
    partial.rename(path)
    return path


def restore(conninfo: str, path: Path, into: str | None = None, progress: pgtools.Progress | None = None) -> str:
    """Restore `path` into a new database `into` (created here), or over the configured database.

    Returns the conninfo of the database restored into.
    """
    if not path.is_file():
        raise FileNotFoundError(f"no backup file at {path}")
    args = ["--no-owner", "--verbose", "--exit-on-error"]
    target = conninfo
    if into:
        with psycopg.connect(with_database(conninfo, "postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(into)))
        target = with_database(conninfo, into)
    else:
        args += ["--clean", "--if-exists"]
    with psycopg.connect(target, autocommit=True) as conn:
        _ensure_app_role(conn)
    pgtools.run("pg_restore", [*args, "-d", target, str(path)], progress)
    return target
