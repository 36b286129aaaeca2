"""The embedded PostgreSQL: pgserver's bundled binaries on a data directory under OPENTR_HOME.

Only the mechanics live here (make the cluster, start it, stop it, tell whether it runs); when to do which is
decided between processes in embedded/servers.py and embedded/lease.py. pgserver is asked never to stop the
server itself (`cleanup_mode=None`): its own rule -- stop when the last pid in a list exits -- never fires once a
pid in that list was killed, and would stop a server other processes still use.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import psutil
import psycopg
from psycopg import errors, sql

from config.settings import ConfigError

log = logging.getLogger("opentr.embedded")
SUPERUSER = "postgres"


def import_pgserver() -> Any:
    """pgserver, imported without the warning it causes on every start where XDG_RUNTIME_DIR is unset (services,
    containers, CI): at import it asks platformdirs for a runtime directory for its lock file, and platformdirs warns
    before falling back to /tmp/runtime-<uid>, which is a fine place for that lock. Only that one warning is silenced.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        import pgserver
    return pgserver


def _system_user() -> str | None:
    """As root, pgserver runs PostgreSQL as the unprivileged `pgserver` user (PostgreSQL refuses to run as root)."""
    return "pgserver" if os.geteuid() == 0 else None


def running_pid(pgdata: Path) -> int | None:
    """The postmaster's pid when one runs on `pgdata` (its postmaster.pid names a live `postgres` process)."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        if psutil.Process(pid).name() == "postgres":
            return pid
    except (OSError, ValueError, psutil.Error):
        pass
    return None


def _initdb(pgdata: Path) -> None:
    """Make the cluster in a scratch directory and rename it into place: a process killed during initdb leaves
    only the scratch directory, which the next start throws away, never a half-made `pgdata` that fails forever."""
    pgserver = import_pgserver()
    if pgdata.exists() and any(pgdata.iterdir()):
        raise ConfigError(f"embedded PostgreSQL: {pgdata} is not empty but holds no cluster (no PG_VERSION); move it")
    scratch = pgdata.with_name(f".{pgdata.name}.initdb")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    user = _system_user()
    if user is not None:
        from pgserver.utils import ensure_prefix_permissions, ensure_user_exists

        ensure_user_exists(user)
        ensure_prefix_permissions(scratch)
        shutil.chown(scratch, user, user)
    log.info("creating the embedded PostgreSQL cluster in %s", pgdata)
    pgserver.initdb(
        ["--auth=trust", "--auth-local=trust", "--encoding=utf8", "-U", SUPERUSER], pgdata=scratch, user=user
    )
    if pgdata.exists():
        pgdata.rmdir()
    scratch.rename(pgdata)


def start(pgdata: Path) -> str:
    """Start the cluster in `pgdata` unless it runs (making it first when there is none); its admin URL."""
    pgserver = import_pgserver()
    if not (pgdata / "PG_VERSION").exists():
        _initdb(pgdata)
    try:
        server = pgserver.PostgresServer(pgdata, cleanup_mode=None)
    except Exception as exc:  # pgserver raises plain exceptions with the server log
        raise ConfigError(f"embedded PostgreSQL did not start in {pgdata}: {exc}") from None
    # Used for starting only: its handle registry, its pid list and its exit hook would keep a stopped server's
    # handle, grow by one pid per process, and race ours at exit.
    atexit.unregister(server._cleanup)
    server.global_process_id_list.get_and_remove(os.getpid())
    pgserver.PostgresServer._instances.pop(pgdata, None)
    url: str = server.get_uri()
    return url


def create_database(admin_url: str, database: str) -> None:
    """Create `database` unless it exists. Callers hold the start lock, so no other process of ours races us; one
    that does not (a hand-run createdb) makes "already exists" the success it is."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone():
            return
        with contextlib.suppress(errors.DuplicateDatabase, errors.UniqueViolation):
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


def url(admin_url: str, database: str) -> str:
    """The URL of `database` on the server whose admin URL is `admin_url` (pgserver's form: database in the path)."""
    base, _, query = admin_url.partition("?")
    return f"{base.rsplit('/', 1)[0]}/{database}" + (f"?{query}" if query else "")


def stop(pgdata: Path) -> None:
    """Stop the postmaster on `pgdata` if one runs: a fast shutdown (sessions end, data is safe), then SIGKILL
    after a minute if it hangs."""
    pid = running_pid(pgdata)
    if pid is None:
        return
    pgserver = import_pgserver()
    try:
        pgserver.pg_ctl(["-w", "-m", "fast", "-t", "60", "stop"], pgdata=pgdata, user=_system_user(), timeout=90)
    except Exception:  # a failed pg_ctl is followed by signals, below
        log.warning("pg_ctl stop failed on %s; signalling the postmaster (pid %s)", pgdata, pid, exc_info=True)
    try:
        process = psutil.Process(pid)
        if process.is_running():
            process.terminate()
            try:
                process.wait(10)
            except psutil.TimeoutExpired:
                process.kill()
    except psutil.NoSuchProcess:
        pass
