"""The pool and the transaction context manager that every caller goes through.

`Database.transaction()` checks a connection out, BEGINs, commits on success, rolls back on any exception and
always returns the connection; used again inside itself (same thread or task) it opens a SAVEPOINT on the same
connection. `Database.run(fn)` is the retrying form: the whole function is re-run on a serialization failure or a
deadlock, a bounded number of times. Connections are autocommit outside `transaction()`, so nothing runs in an
implicit transaction that nobody commits.

Who a transaction acts for is declared around it (`db.acting(actor)`, `db.acting_as_system()`): for an actor (or
nobody, `acting(None)`), right after BEGIN one statement sets `opentr.actor_id` and `opentr.sees_all` and the role
`opentr_app` (an admin's explicit all-files view keeps the owner's role: every file is visible in it), all
transaction-local (`set_config(..., true)`: gone at COMMIT, so nothing leaks to the next user of a
pooled connection, and it works through PgBouncer's transaction mode). PostgreSQL's row-level security (migration
0014) then shows that role only the actor's rows: a query that forgets its access fragment finds nothing of another
user's. The system acts as the tables' owner, to which RLS does not apply. What a transaction nobody declared acts
as is the Database's `undeclared`: the web's acts for nobody (a forgotten declaration finds nothing), the other
processes' (CLI, workers, maintenance, the importer) act as the system, which is what they do across users.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from contextvars import ContextVar
from typing import Any, Literal, TypeVar

import psycopg
from psycopg import errors as pg
from psycopg_pool import ConnectionPool, PoolTimeout
from psycopg_pool.base import AttemptWithBackoff

from config.settings import Settings
from repo.errors import Contention, Unavailable
from repo.reachability import Reachability, quiet_psycopg_pool
from repo.replicas import Replica, ReplicaSet
from repo.rows import Actor

log = logging.getLogger("opentr.db")
quiet_psycopg_pool()  # each pool says its state once per change instead (repo/reachability.py)
T = TypeVar("T")
Connection = psycopg.Connection[Any]
Isolation = Literal["read committed", "repeatable read", "serializable"]
RETRYABLE = (pg.SerializationFailure, pg.DeadlockDetected)
REPLICA_CHECKOUT_SECONDS = 1.0  # a replica that cannot hand out a connection this fast is skipped, not waited for
APP_ROLE = "opentr_app"  # the role RLS applies to (migration 0014; README: Row-level security)
SYSTEM: Literal["system"] = "system"
Acting = Actor | None | Literal["system"]  # an actor, nobody (anonymous: sees nothing), or the system (no RLS)
_ACT = (
    "SELECT set_config('opentr.actor_id', %s, true), set_config('opentr.sees_all', %s, true), "
    "set_config('opentr.is_admin', %s, true), set_config('role', %s, true)"
)


def act(conn: Connection, acting: Acting) -> None:
    """Make the rest of `conn`'s current transaction act for `acting` (one round trip). Used right after BEGIN by
    `Database.transaction()`, and by the web pipeline once authentication (read as the system) knows the caller."""
    if acting == SYSTEM:
        conn.execute(_ACT, ["", "off", "off", "none"])
    elif acting is None:
        conn.execute(_ACT, ["", "off", "off", APP_ROLE])
    elif acting.is_admin and acting.sees_all:
        # An admin's explicit all-files view sees every file by definition: the system's role (the policies' file
        # arrays could not say "all" cheaply); the actor stays recorded for what reads it.
        conn.execute(_ACT, [str(acting.id), "on", "on", "none"])
    else:
        conn.execute(_ACT, [str(acting.id), "off", "on" if acting.is_admin else "off", APP_ROLE])


@contextmanager
def as_system(conn: Connection) -> Iterator[None]:
    """The block runs as the system (the tables' owner: no row-level security), then the transaction's role is
    restored. For the few statements that span every user by design: a COPY (PostgreSQL refuses COPY FROM under
    RLS), whether any file carries a tag, the platform's totals. Each use says why."""
    row = conn.execute("SELECT current_setting('role'), set_config('role', 'none', true)").fetchone()
    role = str(row[0]) if row else "none"
    try:
        yield
    finally:
        if role != "none" and conn.info.transaction_status != psycopg.pq.TransactionStatus.INERROR:
            conn.execute("SELECT set_config('role', %s, true)", [role])


def connection_kwargs(settings: Settings, application_name: str) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"autocommit": True, "application_name": application_name}
    if not settings.behind_pooler:
        # PgBouncer refuses the `options` startup parameter: behind it the timeout is SET LOCAL per transaction.
        kwargs["options"] = f"-c statement_timeout={settings.db_statement_timeout}"
    if not settings.prepared_statements:
        # A transaction pooler hands each transaction any server connection: a statement psycopg prepared on one
        # is unknown on the next ("prepared statement _pg3_0 does not exist").
        kwargs["prepare_threshold"] = None
    return kwargs


class _FollowTheServer(AttemptWithBackoff):
    """psycopg_pool retries a failed connection with exponential backoff (1, 2, 4, 8 s …), so after an outage the
    backoff step, not the server, decided when requests succeeded again (an 8 s outage was followed by ~5.5 s more
    of 503s). A short first delay and a low cap make the pool reconnect within ~0.5 s of the server accepting
    connections, for an outage of any length; a failed connect to a down server costs next to nothing."""

    INITIAL_DELAY = 0.1
    MAX_DELAY = 0.5

    def update_delay(self, now: float) -> None:
        super().update_delay(now)
        self.delay = min(self.delay, self.MAX_DELAY)


class _Pool(ConnectionPool[psycopg.Connection[Any]]):
    """psycopg_pool's pool, reconnecting promptly (`_FollowTheServer`) and saying its database's state once per
    change (repo/reachability.py) rather than once per failed attempt."""

    def __init__(self, conninfo: str, **kwargs: Any) -> None:
        super().__init__(conninfo, **kwargs)
        self.reachability = Reachability(self.name, conninfo)

    # Overrides a private method: tests/test_fault_database.py proves the recovery time for 3, 8 and 15 s
    # outages, so a psycopg_pool release that changes it fails there, not in production.
    def _add_connection(self, attempt: AttemptWithBackoff | None, growing: bool = False) -> None:
        super()._add_connection(attempt or _FollowTheServer(timeout=self.reconnect_timeout), growing)

    # Private too: tests/test_fault_failover.py counts the lines an outage writes.
    def _connect(self, timeout: float | None = None) -> Connection:
        try:
            conn = super()._connect(timeout)
        except Exception as exc:
            self.reachability.failed(exc)
            raise
        self.reachability.answered()
        return conn


class Database:
    """One pool per process; create it after any fork (web lifespan, RQ job), never before."""

    def __init__(
        self,
        url: str,
        settings: Settings,
        *,
        application_name: str = "opentr",
        undeclared: Acting = SYSTEM,
        min_size: int | None = None,
        max_size: int | None = None,
        open: bool = True,
    ) -> None:
        self.url = url
        # Session-level features (advisory locks, LISTEN) never go through a transaction pooler.
        self.direct_url = settings.database_direct_url or url
        self.settings = settings
        self.pid = os.getpid()
        self._current: ContextVar[Connection | None] = ContextVar(f"opentr_tx_{id(self)}", default=None)
        self._on_replica: ContextVar[bool] = ContextVar(f"opentr_replica_{id(self)}", default=False)
        self._write_lsn: ContextVar[str | None] = ContextVar(f"opentr_lsn_{id(self)}", default=None)
        self._acting: ContextVar[Acting] = ContextVar(f"opentr_acting_{id(self)}", default=undeclared)
        self._pooled_timeout = (
            f"SET LOCAL statement_timeout = {settings.db_statement_timeout}" if settings.behind_pooler else None
        )
        self._checking = threading.Lock()
        self.retries = 0
        self.pool: ConnectionPool[Connection] = _Pool(
            url,
            min_size=settings.db_pool_min if min_size is None else min_size,
            max_size=settings.db_pool_max if max_size is None else max_size,
            timeout=settings.db_pool_timeout,
            max_lifetime=settings.db_max_lifetime,
            max_idle=settings.db_max_idle,
            reconnect_timeout=max(settings.db_pool_timeout * 6, 60.0),
            kwargs=connection_kwargs(settings, application_name),
            check=self._check_connection,
            name=application_name,
            open=False,
        )
        self.replicas: ReplicaSet | None = None
        if settings.replica_urls:
            kwargs = connection_kwargs(settings, f"{application_name}-read")
            self.replicas = ReplicaSet(
                settings.replica_urls,
                settings.db_replica_max_lag,
                lambda replica_url: _Pool(
                    replica_url,
                    min_size=0,
                    max_size=settings.db_pool_max if max_size is None else max_size,
                    timeout=REPLICA_CHECKOUT_SECONDS,
                    max_lifetime=settings.db_max_lifetime,
                    max_idle=settings.db_max_idle,
                    reconnect_timeout=max(settings.db_pool_timeout * 6, 60.0),
                    kwargs=kwargs,
                    check=ConnectionPool.check_connection,
                    name=f"{application_name}-read",
                    open=False,
                ),
                kwargs,
            )
        if open:
            self.open()

    def open(self, wait: bool = False) -> None:
        self.pool.open(wait=wait, timeout=self.settings.db_pool_timeout)
        if self.replicas is not None:
            self.replicas.open()

    def close(self) -> None:
        if self.replicas is not None:
            self.replicas.close()
        self.pool.close()

    def on_replica(self) -> bool:
        """True inside a transaction that a read replica serves."""
        return self._on_replica.get()

    def last_write_lsn(self) -> str | None:
        """The WAL position after this context's last committed read-write transaction (with replicas only)."""
        return self._write_lsn.get()

    @contextmanager
    def acting(self, actor: Acting) -> Iterator[None]:
        """The transactions begun in this block (this thread or task) act for `actor`: an Actor, None for nobody
        (sees nothing), or SYSTEM. A transaction already open keeps its own (a nested one is a savepoint of it)."""
        token = self._acting.set(actor)
        try:
            yield
        finally:
            self._acting.reset(token)

    def acting_as_system(self) -> AbstractContextManager[None]:
        """The transactions begun in this block act as the tables' owner: no row-level security. For what works
        across users by design (the CLI, the job dispatcher, recovery, cleanup, authentication)."""
        return self.acting(SYSTEM)

    def current_acting(self) -> Acting:
        return self._acting.get()

    def _checkout(self, stack: ExitStack, read_only: bool, min_lsn: str | None) -> tuple[Connection, bool]:
        """A replica's connection for a read-only transaction when one is fit, else the primary's."""
        replica: Replica | None = None
        if read_only and self.replicas is not None:
            replica = self.replicas.choose(min_lsn)
        if replica is not None:
            try:
                return stack.enter_context(replica.pool.connection()), True
            except (PoolTimeout, psycopg.OperationalError):
                self.replicas.mark_down(replica)  # type: ignore[union-attr]
        return stack.enter_context(self.pool.connection()), False

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(
        self, *, isolation: Isolation | None = None, read_only: bool = False, min_lsn: str | None = None
    ) -> Iterator[Connection]:
        """`read_only` transactions go to a fit replica when replicas are configured; `min_lsn` (a write's
        `last_write_lsn()`) keeps them on the primary until a replica has replayed that far."""
        if os.getpid() != self.pid:
            raise RuntimeError("this Database was created before a fork; create one per process")
        outer = self._current.get()
        if outer is not None:
            with outer.transaction():
                yield outer
            return
        try:
            with ExitStack() as stack:
                conn, on_replica = self._checkout(stack, read_only, min_lsn)
                token, replica_token = self._current.set(conn), self._on_replica.set(on_replica)
                try:
                    with conn.transaction():
                        if isolation or read_only:
                            level = f" ISOLATION LEVEL {isolation.upper()}" if isolation else ""
                            conn.execute(f"SET TRANSACTION{level}{' READ ONLY' if read_only else ''}")
                        if self._pooled_timeout:
                            conn.execute(self._pooled_timeout)
                        acting = self._acting.get()
                        if acting != SYSTEM:
                            act(conn, acting)
                        yield conn
                    if self.replicas is not None and not read_only:
                        row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
                        self._write_lsn.set(row[0] if row else None)
                finally:
                    self._current.reset(token)
                    self._on_replica.reset(replica_token)
        except PoolTimeout as exc:
            raise Unavailable(f"no database connection free within {self.settings.db_pool_timeout:g} s") from exc
        except (psycopg.OperationalError, Unavailable) as exc:
            cause = exc if isinstance(exc, psycopg.OperationalError) else exc.__cause__
            # Deadlocks and serialization failures are OperationalErrors too, but the connection is fine.
            if isinstance(cause, psycopg.OperationalError) and not isinstance(cause, (pg.QueryCanceled, *RETRYABLE)):
                self._recheck_idle_connections()
            raise

    @contextmanager
    def apart(self) -> Iterator[Connection]:
        """A transaction of its own on another connection, as the system, even inside another transaction: for
        what must be kept when the surrounding transaction rolls back (the audit trail's record of a refusal)."""
        token = self._current.set(None)
        try:
            with self.acting(SYSTEM), self.transaction() as conn:
                yield conn
        finally:
            self._current.reset(token)

    def run(
        self,
        fn: Callable[[Connection], T],
        *,
        attempts: int = 4,
        isolation: Isolation | None = None,
        read_only: bool = False,
        min_lsn: str | None = None,
    ) -> T:
        """Run `fn(conn)` in a transaction, re-running it whole on serialization failures and deadlocks."""
        for attempt in range(1, attempts + 1):
            try:
                with self.transaction(isolation=isolation, read_only=read_only, min_lsn=min_lsn) as conn:
                    return fn(conn)
            except RETRYABLE as exc:
                if self._current.get() is not None:
                    raise  # only the outermost transaction can be re-run
                self.retries += 1
                if attempt == attempts:
                    raise Contention("the data changed concurrently; try again") from exc
                log.info("retrying transaction after %s (attempt %d)", type(exc).__name__, attempt)
                time.sleep(random.uniform(0.005, 0.02) * 2**attempt)
        raise AssertionError("unreachable")

    def _check_connection(self, conn: Connection) -> None:
        """The pool's check on checkout. One stale connection usually means the server restarted and every idle
        one is stale too: test them all at once, or the pool tries them one by one with 1, 2, 4 s pauses between
        (psycopg_pool's backoff), and the requests behind them time out although the server is back."""
        try:
            ConnectionPool.check_connection(conn)
        except Exception:
            self._recheck_idle_connections()
            raise

    def _recheck_idle_connections(self) -> None:
        """After a lost connection, test every idle one at once instead of one backoff step per request."""
        if self._checking.acquire(blocking=False):
            try:
                self.pool.check()
            except Exception:
                log.debug("pool check failed", exc_info=True)
            finally:
                self._checking.release()

    def stats(self) -> dict[str, int]:
        stats = dict(self.pool.get_stats())
        stats["transaction_retries"] = self.retries
        return stats
