"""Whether a pool's database answers, said once per change: one line when it stops, one when it is back.

psycopg_pool warns at every failed attempt of every connection it is re-opening, and once per connection it finds
broken: a 3 s outage of a pool of 10 wrote 83 lines (76 "error connecting", 7 "discarding closed connection"), and
a longer one about 25 more per second. Those lines say nothing the state change does not, so they are filtered
out of the `psycopg.pool` logger, and each pool (repo/database.py `_Pool`) reports its state instead: "unreachable"
at its first failed connect, "reachable again after N s" at its first successful one.
"""

from __future__ import annotations

import logging
import re
import threading
import time

from psycopg import ProgrammingError
from psycopg.conninfo import conninfo_to_dict

log = logging.getLogger("opentr.db")

# psycopg_pool's messages (their format strings) that repeat per attempt or per connection during an outage.
PER_ATTEMPT = frozenset(
    {
        "error connecting in %r: %s",
        "discarding broken connection: %s",
        "discarding closed connection: %s",
        "reconnection attempt in pool %r failed after %s sec",
    }
)


class QuietPerAttempt(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg not in PER_ATTEMPT


def quiet_psycopg_pool() -> None:
    """Install the filter on psycopg_pool's logger, once per process."""
    pool_log = logging.getLogger("psycopg.pool")
    if not any(isinstance(existing, QuietPerAttempt) for existing in pool_log.filters):
        pool_log.addFilter(QuietPerAttempt())


def where(conninfo: str) -> str:
    """The servers a conninfo names, for logs, without credentials: `h1:5432,h2:5433`."""
    try:
        info = conninfo_to_dict(conninfo)
    except ProgrammingError:
        return "(unparsable url)"
    hosts = str(info.get("host") or info.get("hostaddr") or "localhost").split(",")
    ports = str(info.get("port") or "5432").split(",")
    return ",".join(f"{host}:{ports[min(i, len(ports) - 1)]}" for i, host in enumerate(hosts))


_ATTEMPT = re.compile(r"^- host: '([^']*)', port: '([^']*)'.*failed: (.*)$")


def reason(exc: BaseException) -> str:
    """Why a connect failed, on one line; for a URL naming several hosts, each host's own reason (libpq's first
    line names only the last host tried: "session is read-only" while the primary it skipped refused)."""
    text = str(exc).strip()
    if not text:
        return type(exc).__name__
    hosts = [match.groups() for line in text.splitlines() if (match := _ATTEMPT.match(line))]
    if len(hosts) > 1:
        return "; ".join(f"{host}:{port} {why.strip()}" for host, port, why in hosts)
    return text.splitlines()[0]


class Reachability:
    """One pool's view of its database: up until a connect fails, down until one succeeds."""

    def __init__(self, pool_name: str, conninfo: str) -> None:
        self.pool_name, self.where = pool_name, where(conninfo)
        self._down_since: float | None = None
        self._lock = threading.Lock()

    def failed(self, exc: BaseException) -> None:
        with self._lock:
            if self._down_since is not None:
                return
            self._down_since = time.monotonic()
        log.warning(
            "database unreachable from pool %r (%s): %s; reconnecting until it answers",
            self.pool_name,
            self.where,
            reason(exc),
        )

    def answered(self) -> None:
        with self._lock:
            if self._down_since is None:
                return
            seconds, self._down_since = time.monotonic() - self._down_since, None
        log.warning("database reachable again from pool %r (%s) after %.1f s", self.pool_name, self.where, seconds)
