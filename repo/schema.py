"""Build, migrate and compare the schema: init SQL for dev, yoyo migrations for production.

`migrate()` holds a session-level advisory lock on the very connection that runs the migrations, decides what is
pending only once it holds the lock, and applies each transactional migration together with its bookkeeping row in
one transaction, so a killed migrator leaves neither a stale lock nor a half-recorded migration.
"""

from __future__ import annotations

import difflib
import importlib.util
import os
import re
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from repo import pgtools
from repo.errors import Unavailable
from repo.queries import SQL_FILES

INIT_SQL: Traversable = SQL_FILES / "init_db.sql"
# OPENTR_MIGRATIONS_DIR points the migrator at another directory (the tests use it for deliberately slow migrations);
# unset, the migrations shipped as package data of `migrations` are used.
_OVERRIDE = os.environ.get("OPENTR_MIGRATIONS_DIR")
MIGRATIONS_DIR: Path | None = Path(_OVERRIDE) if _OVERRIDE else None
MIGRATION_LOCK_KEY = 0x6F70656E7472  # "opentr"
YOYO_TABLES = ("_yoyo_log", "_yoyo_migration", "_yoyo_version", "yoyo_lock")
Say = Callable[[str], None]
# Attribute options some servers stamp on every column with a per-build value: not part of the schema.
PER_BUILD = re.compile(r"^ALTER TABLE ONLY \S+ ALTER COLUMN \S+ SET \(pg_attver=\d+\);$")


class MigrationLockTimeout(RuntimeError):
    """Another migrator held the lock for longer than we were willing to wait."""


def with_database(conninfo: str, dbname: str) -> str:
    return make_conninfo(conninfo, dbname=dbname)


def database_name(conninfo: str) -> str:
    return str(conninfo_to_dict(conninfo).get("dbname") or "postgres")


def to_url(conninfo: str, scheme: str = "postgresql") -> str:
    """A postgresql:// URL for a conninfo string; every parameter but user/password/dbname goes in the query."""
    params: dict[str, Any] = dict(conninfo_to_dict(conninfo))
    user = quote(str(params.pop("user", "") or ""), safe="")
    password = params.pop("password", None)
    dbname = quote(str(params.pop("dbname", "postgres")), safe="")
    auth = f"{user}:{quote(str(password), safe='')}@" if password else (f"{user}@" if user else "")
    query = urlencode({k: str(v) for k, v in params.items()})
    return f"{scheme}://{auth}/{dbname}" + (f"?{query}" if query else "")


def yoyo_uri(conninfo: str) -> str:
    return to_url(conninfo, "postgresql+psycopg")


def is_empty(conninfo: str) -> bool:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename <> ALL(%s)", [list(YOYO_TABLES)]
        ).fetchone()
    return row is not None and row[0] == 0


def applied_version(conn: psycopg.Connection[Any]) -> str | None:
    """The newest applied migration's id (None on a database yoyo never touched)."""
    if conn.execute("SELECT to_regclass('_yoyo_migration') IS NOT NULL").fetchone() != (True,):
        return None
    row = conn.execute(
        "SELECT migration_id FROM _yoyo_migration ORDER BY applied_at_utc DESC, migration_id DESC LIMIT 1"
    ).fetchone()
    return str(row[0]) if row else None


def build_from_init_sql(conninfo: str, init_sql: Traversable = INIT_SQL) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn, conn.transaction():
        conn.execute(init_sql.read_text(encoding="utf-8"))  # a trusted file, run without parameters


def migrations_directory() -> Path:
    """The migrations as a real directory, which is what yoyo reads: OPENTR_MIGRATIONS_DIR, else the `migrations`
    package wherever it is installed.

    `migrations` has no __init__.py (yoyo would take it for a migration, and so would a plain `yoyo apply`), which
    makes it a namespace package; `importlib.resources.files()` cannot open those under an editable install on
    Python 3.11, so the import system's own search locations say where it is.
    """
    if MIGRATIONS_DIR is not None:
        return MIGRATIONS_DIR
    spec = importlib.util.find_spec("migrations")
    # In sys.path order: the first is the one a regular package would be imported from (the rest are other copies).
    found = [Path(p) for p in (spec.submodule_search_locations or []) if Path(p).is_dir()] if spec else []
    if not found:
        raise RuntimeError("the `migrations` package is not installed (reinstall opentr)")
    return found[0]


def read_migrations() -> Any:
    from yoyo import read_migrations as yoyo_read

    return yoyo_read(str(migrations_directory()))


def status(conninfo: str) -> list[tuple[str, bool]]:
    from yoyo import get_backend

    backend = get_backend(yoyo_uri(conninfo))
    try:
        applied = set(backend.get_applied_migration_hashes())
        return [(m.id, m.hash in applied) for m in read_migrations()]
    finally:
        backend.connection.close()


def baseline(conninfo: str) -> list[str]:
    """Mark every migration applied: the init SQL is the migrations' head (`db check` proves it)."""
    from yoyo import get_backend

    backend = get_backend(yoyo_uri(conninfo))
    try:
        pending = backend.to_apply(read_migrations())
        backend.mark_migrations(pending)
        return [m.id for m in pending]
    finally:
        backend.connection.close()


@contextmanager
def _advisory_lock(conn: psycopg.Connection[Any], timeout: float, say: Say) -> Iterator[None]:
    deadline = time.monotonic() + timeout
    told = False
    while not conn.execute("SELECT pg_try_advisory_lock(%s)", [MIGRATION_LOCK_KEY]).fetchone()[0]:  # type: ignore[index]
        if not told:
            say("another migration is running; waiting for its lock")
            told = True
        if time.monotonic() > deadline:
            raise MigrationLockTimeout(f"the migration lock was still held after {timeout:g} s")
        time.sleep(0.25)
    try:
        yield
    finally:
        if not conn.closed:
            conn.execute("SELECT pg_advisory_unlock(%s)", [MIGRATION_LOCK_KEY])


def migrate(conninfo: str, say: Say = print, lock_timeout: float = 600.0) -> list[str]:
    """Apply pending migrations under the advisory lock; return the ids applied (empty: nothing to do)."""
    from yoyo import get_backend

    backend = get_backend(yoyo_uri(conninfo))
    applied: list[str] = []
    try:
        if backend.connection.info.server_version >= 140000:
            # A killed migrator's backend would otherwise run its statement to the end (holding the lock): make it
            # notice the lost client within a second, roll back and release the lock.
            backend.connection.execute("SET client_connection_check_interval = 1000")
        with _advisory_lock(backend.connection, lock_timeout, say):
            backend.ensure_internal_schema_updated()
            pending = backend.to_apply(read_migrations())
            for number, migration in enumerate(pending, start=1):
                say(f"[{number}/{len(pending)}] applying {migration.id}")
                if migration.use_transactions:
                    with backend.transaction():
                        migration.process_steps(backend, "apply")
                        backend.mark_one(migration)
                else:
                    migration.process_steps(backend, "apply")
                    with backend.transaction():
                        backend.mark_one(migration)
                applied.append(migration.id)
    finally:
        backend.connection.close()
    return applied


@contextmanager
def temporary_database(conninfo: str, prefix: str = "opentr_tmp") -> Iterator[str]:
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = with_database(conninfo, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_database(conninfo, name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def schema_dump(conninfo: str) -> str:
    """`pg_dump --schema-only` without yoyo's tables, comments, SET lines and per-run tokens."""
    args = ["--schema-only", "--no-owner", "--no-privileges", "--no-comments", "-d", conninfo]
    for table in YOYO_TABLES:
        args += ["--exclude-table", table]
    lines = pgtools.run("pg_dump", args).splitlines()
    skip = ("--", "SET ", "SELECT pg_catalog.set_config", "\\restrict", "\\unrestrict")
    kept = [line for line in lines if line.strip() and not line.startswith(skip) and not PER_BUILD.search(line)]
    return "\n".join(kept) + "\n"


def compare_schemas(conninfo: str, init_sql: Traversable = INIT_SQL, say: Say = print) -> list[str]:
    """Build the schema both ways in throwaway databases; return the unified diff (empty when identical)."""
    with (
        temporary_database(conninfo, "opentr_check_init") as from_init,
        temporary_database(conninfo, "opentr_check_migr") as from_migrations,
    ):
        say("building the schema from sql/init_db.sql")
        build_from_init_sql(from_init, init_sql)
        say("building the schema from migrations/")
        migrate(from_migrations, say=lambda _: None)
        first, second = schema_dump(from_init), schema_dump(from_migrations)
    return list(
        difflib.unified_diff(first.splitlines(), second.splitlines(), "init_db.sql", "migrations", lineterm="", n=1)
    )


def readiness(conninfo: str) -> str | None:
    """None when the schema is ready for the services; otherwise why not, in words for a log line."""
    with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
        built = conn.execute("SELECT to_regclass('public.media_files') IS NOT NULL").fetchone()
        if built != (True,):
            return "the schema is not built yet (`opentr db migrate` builds it)"
        if conn.execute("SELECT to_regclass('public._yoyo_migration') IS NOT NULL").fetchone() != (True,):
            return None  # built from the init SQL, which is the migrations' head
        applied = {row[0] for row in conn.execute("SELECT migration_id FROM _yoyo_migration")}
    # Read the files, never yoyo's backend: that would create yoyo's tables under a running `db migrate`.
    pending = [m.id for m in read_migrations() if m.id not in applied]
    return f"migrations pending: {', '.join(pending)}" if pending else None


def wait_until_ready(conninfo: str, timeout: float, say: Say = print, poll: float = 0.5) -> None:
    """Block until `readiness` says ready, announcing each new reason once; Unavailable after `timeout` s.

    Procfile runners start every process at once: the web and the workers wait here for `release` to migrate
    instead of dying on a missing table."""
    deadline = time.monotonic() + timeout
    last: str | None = None
    while True:
        try:
            reason = readiness(conninfo)
        except psycopg.OperationalError as exc:
            reason = f"the database is unreachable ({str(exc).strip().splitlines()[0] if str(exc).strip() else exc})"
        if reason is None:
            if last is not None:
                say("the database schema is ready")
            return
        if reason != last:
            say(f"waiting for the database: {reason}")
            last = reason
        if time.monotonic() >= deadline:
            raise Unavailable(f"the database schema was not ready after {timeout:g} s: {reason}")
        time.sleep(poll)
