"""`opentr dev`: both servers, the dev schema, the web app and one worker; Ctrl-C or a hangup stops everything.

The port is checked first, so a busy one is one line and exit code 2 before anything starts. The web server and
the worker run in their own sessions (Ctrl-C reaches only us, and we stop them with a quiet SIGTERM) and die with
us however we end (`PR_SET_PDEATHSIG`); the embedded servers are stopped by us, or by their reaper when we were
killed (embedded/servers.py). So closing the terminal, a dropped SSH session or `kill -9` leaves nothing running,
and the next `opentr dev` in the same folder starts clean.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from types import FrameType

from asr import availability
from config.settings import ConfigError, Settings
from embedded import servers as embedded
from opentr_cli import processes
from repo import schema
from workers.runner import die_with_parent

STOP_GRACE_SECONDS = 15.0
POLL_SECONDS = 0.2
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def ensure_dev_schema(conninfo: str) -> bool:
    """Build the schema from the init SQL on an empty database; True when it did."""
    if not schema.is_empty(conninfo):
        return False
    schema.build_from_init_sql(conninfo)
    schema.baseline(conninfo)
    return True


def say(line: str, error: bool = False) -> None:
    """Print, and carry on when the terminal is gone (after a hangup, writing to it fails): stopping must go on."""
    with contextlib.suppress(OSError):
        print(line, file=sys.stderr if error else sys.stdout, flush=True)


def announce(settings: Settings, host: str, port: int) -> None:
    """What a person needs once the web app answers: the address to open, where the API is described, and whether
    recordings can be transcribed here (with the ways on when they cannot)."""
    base = f"http://{processes.browser_host(host)}:{port}"
    say(f"opentr is ready: open {base}/ in a browser  (Ctrl-C stops it)")
    say(f"  API documentation: {base}/api/docs  (OpenAPI document: {base}/api/openapi.json)")
    say(availability.summary(settings))


class _Stop:
    """Set by Ctrl-C, SIGTERM or a hangup; checked between the steps of starting and while running."""

    def __init__(self) -> None:
        self.requested = False
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True


def run(settings: Settings, host: str, port: int, worker: bool = True) -> int:
    processes.check_port_free(host, port)  # a ConfigError: one line, exit code 2
    stop = _Stop()
    children: list[subprocess.Popen[bytes]] = []
    try:
        database_url = embedded.database_url(settings)
        redis_url = embedded.redis_url(settings)
        if ensure_dev_schema(database_url):
            say("built the dev schema from sql/init_db.sql")
        if stop.requested:
            return 0
        env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url}
        # -P keeps the current directory off sys.path, so a folder there named web/, sql/ or migrations/ cannot
        # shadow ours.
        python = [sys.executable, "-P", "-m"]
        web = [*python, "uvicorn", "--factory", "web.app:create_app", "--host", host, "--port", str(port)]
        commands = [web, [*python, "opentr_cli", "worker"]] if worker else [web]
        for command in commands:
            children.append(subprocess.Popen(command, env=env, start_new_session=True, preexec_fn=die_with_parent))
        return _supervise(settings, children, host, port, stop)
    finally:
        _stop_children(children)
        embedded.stop_all()


def _supervise(settings: Settings, children: list[subprocess.Popen[bytes]], host: str, port: int, stop: _Stop) -> int:
    """Announce the address once the web app answers; return when stopped (0) or when a child exits (its code)."""
    web, ready = children[0], False
    while not stop.requested:
        exited = [child for child in children if child.poll() is not None]
        if exited:
            if exited[0] is web and not ready:
                busy = _port_taken_meanwhile(host, port)
                if busy:
                    say(f"opentr: error: {busy}", error=True)
                    return 2
            say(f"a child process exited with code {exited[0].returncode}; stopping", error=True)
            return exited[0].returncode or 1
        if not ready and processes.accepts_connections(host, port):
            ready = True
            announce(settings, host, port)
        time.sleep(POLL_SECONDS)
    return 0


def _port_taken_meanwhile(host: str, port: int) -> str | None:
    """Another program may take the port between our check and uvicorn's bind: say so in the same one line."""
    try:
        processes.check_port_free(host, port)
    except ConfigError as exc:
        return str(exc)
    return None


def _stop_children(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
