"""Who may start, use and stop an embedded server: three file locks beside its data directory.

Several processes share one embedded server (a Procfile runs `release`, `web` and `worker`, each starting the
servers when no URL is given), so starting, using and stopping are decided between processes, with `flock`:

- `.<name>.start.lock`, exclusive: held while a process starts the server (initdb included), creates a database
  in it, or stops it. Three processes starting at once take turns: the first starts, the others join.
- `.<name>.users.lock`, shared: held by every process that uses the server, for as long as it runs. The kernel
  drops a process's lock when it ends, however it ends (exit, SIGKILL, a crash), so "nobody uses the server" is
  exactly "an exclusive lock on this file can be taken" -- no list of pids that goes stale when one dies.
- `.<name>.reaper.lock`, exclusive: held by the one reaper process (embedded/reaper.py) that stops the server once
  nobody uses it, so a server whose users were all killed does not outlive them.

Whether anyone uses the server is only ever asked under the start lock, by trying `users` exclusively without
waiting: two askers at once would each see the other's momentary lock as a user. A process killed while holding
any of these leaves no lock behind (the kernel releases `flock` locks with the last descriptor), unlike a pid file
created with O_EXCL. Lock order is always start, then users.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _open(path: Path) -> int:
    # Python opens descriptors close-on-exec: a child we exec does not inherit (and so cannot hold) our locks.
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)


class Lease:
    """One process's share of the embedded server whose data lives in `directory`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        stem = directory.parent / f".{directory.name}"
        self.start_path = Path(f"{stem}.start.lock")
        self.users_path = Path(f"{stem}.users.lock")
        self.reaper_path = Path(f"{stem}.reaper.lock")
        self.log_path = Path(f"{stem}.reaper.log")
        self._users: int | None = None

    @contextmanager
    def starting(self) -> Iterator[None]:
        """Hold the start lock: no other process starts, joins or stops this server meanwhile."""
        descriptor = _open(self.start_path)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)  # releases the lock

    @property
    def joined(self) -> bool:
        return self._users is not None

    def in_use(self) -> bool:
        """Whether any process holds a share. Ask under the start lock, while this process holds none (flock locks of
        one process's two descriptors conflict with each other)."""
        assert self._users is None, "in_use() is asked before joining or after leaving"
        return _held(self.users_path)

    def join(self) -> None:
        """Take a share (under the start lock, so nobody holds `users` exclusively: that is only done under it)."""
        if self._users is None:
            descriptor = _open(self.users_path)
            fcntl.flock(descriptor, fcntl.LOCK_SH)
            self._users = descriptor

    def leave(self) -> bool:
        """Give the share back (under the start lock); True when no other process uses the server any more."""
        if self._users is not None:
            os.close(self._users)
            self._users = None
        return not self.in_use()

    def reaper_on_duty(self) -> bool:
        return _held(self.reaper_path)

    def take_reaper_duty(self) -> int | None:
        """The reaper's own lock: a descriptor to keep open while on duty, or None when another reaper is."""
        descriptor = _open(self.reaper_path)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            return None
        return descriptor


def _held(path: Path) -> bool:
    """Whether some process holds a lock on `path` (shared or exclusive): an exclusive try that fails."""
    descriptor = _open(path)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(descriptor)
    return False
