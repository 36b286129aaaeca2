"""Read replicas: which one may serve a read-only transaction right now.

A watcher thread per process probes every replica twice a second on its own connection (so no request ever waits
on a dead replica to find out) and keeps, for each, whether it answers, how far behind the primary it is and the
WAL position it has replayed. `choose(min_lsn)` picks a replica that answers, lags at most `DB_REPLICA_MAX_LAG`
seconds and has replayed at least `min_lsn` (read-your-writes: the position of the caller's last write); None
sends the transaction to the primary. A replica that is down or too far behind is skipped, never an error.

Lag is the age of the last replayed transaction while WAL received is still waiting to be replayed, and 0 once
everything received is replayed (an idle primary does not make a replica look late).
"""

from __future__ import annotations

import itertools
import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from repo.reachability import where

log = logging.getLogger("opentr.db.replicas")
PRIMARY_ONLY = "FFFFFFFF/FFFFFFFF"  # as `min_lsn`: no replica qualifies
PROBE_SECONDS = 0.5
CONNECT_TIMEOUT = 2
PROBE = """
SELECT pg_is_in_recovery(),
       (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END)::text,
       CASE WHEN NOT pg_is_in_recovery() OR pg_last_wal_receive_lsn() IS NULL
                 OR pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() THEN 0
            ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0)::float8 END
"""


def lsn_value(lsn: str) -> int:
    """PostgreSQL's `X/Y` WAL position as one comparable integer."""
    high, _, low = lsn.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


@dataclass
class Replica:
    url: str
    pool: ConnectionPool[psycopg.Connection[Any]]
    healthy: bool = False
    lag: float = math.inf
    replayed: int = 0
    probe: psycopg.Connection[Any] | None = None


class ReplicaSet:
    """The replicas of one process, each with its own pool (created unopened by `make_pool`)."""

    def __init__(
        self,
        urls: list[str],
        max_lag: float,
        make_pool: Callable[[str], ConnectionPool[psycopg.Connection[Any]]],
        connect_kwargs: dict[str, Any],
    ) -> None:
        self.max_lag = max_lag
        self.replicas = [Replica(url, make_pool(url)) for url in urls]
        self._connect_kwargs = {**connect_kwargs, "connect_timeout": CONNECT_TIMEOUT}
        self._turn = itertools.count()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="opentr-replica-watch", daemon=True)

    def open(self) -> None:
        for replica in self.replicas:
            replica.pool.open(wait=False)
        self.refresh()  # know the replicas' state before the first request
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=CONNECT_TIMEOUT + 1)
        for replica in self.replicas:
            if replica.probe is not None:
                replica.probe.close()
            replica.pool.close()

    def choose(self, min_lsn: str | None = None) -> Replica | None:
        """A replica fit to serve now (round robin among them), or None: use the primary."""
        needed = lsn_value(min_lsn) if min_lsn else 0
        fit = [r for r in self.replicas if r.healthy and r.lag <= self.max_lag and r.replayed >= needed]
        if not fit:
            return None
        return fit[next(self._turn) % len(fit)]

    def mark_down(self, replica: Replica) -> None:
        """A request could not use it: skip it until the watcher sees it answer again."""
        if replica.healthy:
            log.warning("read replica %s is unavailable; reading from the primary", where(replica.url))
        replica.healthy = False

    def refresh(self) -> None:
        for replica in self.replicas:
            self._probe(replica)

    def _probe(self, replica: Replica) -> None:
        try:
            if replica.probe is None or replica.probe.closed:
                replica.probe = psycopg.connect(replica.url, **self._connect_kwargs)
            row = replica.probe.execute(PROBE).fetchone()
            assert row is not None
            was = replica.healthy
            replica.replayed, replica.lag, replica.healthy = lsn_value(row[1]), float(row[2]), True
            if not was:
                log.info("read replica %s is serving (lag %.1f s)", where(replica.url), replica.lag)
        except (psycopg.Error, OSError):
            if replica.probe is not None:
                replica.probe.close()
                replica.probe = None
            self.mark_down(replica)

    def _watch(self) -> None:
        while not self._stop.wait(PROBE_SECONDS):
            self.refresh()
