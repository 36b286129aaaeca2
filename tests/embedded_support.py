"""Homes with embedded servers for tests that start them from real processes (no DATABASE_URL / REDIS_URL).

A home lives under the system's temporary folder, not pytest's: as root, pgserver runs PostgreSQL as another user
that must traverse every parent folder, and another pytest session on the machine resets /tmp/pytest-of-<user> to
0700. Whatever a test leaves running in its home is killed afterwards, so a failing test cannot leak servers.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

from embedded import postgres_server, redis_server

ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def empty_home(prefix: str = "opentr-home-") -> Iterator[Path]:
    home = Path(tempfile.mkdtemp(prefix=prefix)) / "home"
    try:
        yield home
    finally:
        for process in processes_of(home):
            with contextlib.suppress(psutil.Error):
                process.kill()
        shutil.rmtree(home.parent, ignore_errors=True)


def env_without_urls(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a newcomer's shell: no server URLs, this checkout's code and programs first on PATH."""
    hidden = ("DATABASE_URL", "REDIS_URL")
    bin_dir = str(Path(sys.executable).parent)
    return {
        **{k: v for k, v in os.environ.items() if k not in hidden},
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(ROOT),
        "OPENTR_HOME": str(home),
        **extra,
    }


def processes_of(home: Path) -> list[psutil.Process]:
    """Every live process whose command line names `home`: its postmaster, redis-server and their reapers (and any
    opentr process started with it on the command line)."""
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        command = " ".join(process.info["cmdline"] or [])
        if str(home) in command and process.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(process)
    return found


def server_pids(home: Path) -> tuple[int | None, int | None]:
    """(postmaster, redis-server) pids of `home`'s embedded servers, None for one not running."""
    return postgres_server.running_pid(home / "pg"), redis_server.running_pid(home / "redis")


def alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    """The ones still running (a zombie has ended: only its exit status is left for its parent)."""
    running = []
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                running.append(process)
    return running


def pid_running(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def tree(pid: int) -> list[psutil.Process]:
    parent = psutil.Process(pid)
    return [parent, *parent.children(recursive=True)]


def kill_tree(proc: subprocess.Popen[Any]) -> None:
    """Cleanup after a test: SIGKILL a process and everything under it."""
    with contextlib.suppress(psutil.NoSuchProcess):
        for process in reversed(tree(proc.pid)):
            with contextlib.suppress(psutil.NoSuchProcess):
                process.send_signal(signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
