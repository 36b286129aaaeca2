"""A PostgreSQL primary with a streaming replica (`pg_basebackup -R`) and Debian's PgBouncer in transaction mode on
127.0.0.1, in temporary directories: for `python -m bench --only scale,concurrency` and the replica and PgBouncer
tests. Uses pgserver's bundled binaries, as pgserver's unprivileged user when run as root (PostgreSQL and
PgBouncer refuse to run as root)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from repo import schema


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _bin_dir() -> Path:
    from pgserver._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def system_user() -> str | None:
    """PostgreSQL refuses to run as root: as root, run it as pgserver's unprivileged user (created if missing)."""
    if os.geteuid() != 0:
        return None
    from pgserver.utils import ensure_user_exists

    ensure_user_exists("pgserver")
    return "pgserver"


class Cluster:
    """One PostgreSQL server (a primary from initdb, or a replica from `pg_basebackup -R` of one) on 127.0.0.1."""

    def __init__(self, root: Path, name: str, port: int) -> None:
        self.root, self.pgdata, self.port = root, root / name, port
        self.user = system_user()

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres?sslmode=disable"

    def url(self, database: str) -> str:
        return schema.with_database(self.admin_url, database)

    def _run(self, *args: str, timeout: float = 60) -> None:
        # No pipes (the postmaster would inherit them and the call could hang): errors go to a file.
        with tempfile.TemporaryFile("w+") as err:
            result = subprocess.run(
                [str(_bin_dir() / args[0]), *args[1:]],
                stdout=subprocess.DEVNULL,
                stderr=err,
                user=self.user,
                timeout=timeout,
                check=False,
                cwd=self.root,
            )
            if result.returncode != 0:
                err.seek(0)
                log = self.pgdata / "log"
                raise RuntimeError(f"{args[0]} failed: {err.read()}\n{log.read_text()[-2000:] if log.exists() else ''}")

    def initdb(self) -> None:
        self._run("initdb", "-D", str(self.pgdata), "-U", "postgres", "--auth=trust", "-E", "UTF8")

    def basebackup_of(self, primary: Cluster, **settings: str) -> None:
        self._run("pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres", "-D", str(self.pgdata),
                  "-R", "-X", "stream")  # fmt: skip
        with (self.pgdata / "postgresql.auto.conf").open("a") as conf:
            for key, value in settings.items():
                conf.write(f"{key} = '{value}'\n")

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c max_connections=100"
        self._run("pg_ctl", "-D", str(self.pgdata), "-w", "-o", options, "-l", str(self.pgdata / "log"), "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.pgdata), "-w", "-m", "fast", "stop")

    def is_running(self) -> bool:
        return (self.pgdata / "postmaster.pid").exists()


class ReplicatedPostgres:
    """A primary and one streaming replica replaying `apply_delay` behind it; `create_database` builds the schema
    on the primary and waits until the replica has it too."""

    def __init__(self, apply_delay: str = "0") -> None:
        self.root = Path(tempfile.mkdtemp(prefix="opentr-scale-pg-"))
        self.root.chmod(0o777)
        self.primary = Cluster(self.root, "primary", free_port())
        self.replica = Cluster(self.root, "replica", free_port())
        try:
            self.primary.initdb()
            self.primary.start()
            self.replica.basebackup_of(self.primary, recovery_min_apply_delay=apply_delay)
            self.replica.start()
        except BaseException:
            self.close()
            raise

    def create_database(self, name: str) -> tuple[str, str]:
        """The new database's (primary, replica) URLs, once the replica can read the schema."""
        with psycopg.connect(self.primary.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        primary = self.primary.url(name)
        schema.build_from_init_sql(primary)
        self.wait_replayed()
        return primary, self.replica.url(name)

    def wait_replayed(self, timeout: float = 60) -> None:
        with psycopg.connect(self.primary.admin_url, autocommit=True) as conn:
            row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
        assert row is not None
        target = row[0]

        def replayed() -> bool:
            with psycopg.connect(self.replica.admin_url, autocommit=True) as conn:
                done = conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [target]).fetchone()
            return bool(done and done[0])

        deadline = time.monotonic() + timeout
        while not replayed():
            if time.monotonic() > deadline:
                raise TimeoutError(f"the replica did not replay the primary's WAL within {timeout:g} s")
            time.sleep(0.2)

    def close(self) -> None:
        for cluster in (self.replica, self.primary):
            with contextlib.suppress(Exception):
                if cluster.is_running():
                    cluster.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> ReplicatedPostgres:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class PgBouncer:
    """Debian's pgbouncer in transaction mode on 127.0.0.1, in front of the server `upstream` (a conninfo) names;
    every database name is passed through (`* =`). `url(database)` is the pooled URL of a database."""

    def __init__(self, upstream: str, pool_size: int = 20) -> None:
        info = psycopg.conninfo.conninfo_to_dict(upstream)
        self.user = str(info.get("user") or "postgres")
        self.root = Path(tempfile.mkdtemp(prefix="opentr-pgbouncer-"))
        self.root.chmod(0o777)
        self.port = free_port()
        self.log = self.root / "pgbouncer.log"
        host, port = info.get("host") or "127.0.0.1", info.get("port") or 5432
        (self.root / "users.txt").write_text(f'"{self.user}" ""\n')
        (self.root / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = host={host} port={port}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {self.root / 'users.txt'}\n"
            f"pool_mode = transaction\ndefault_pool_size = {pool_size}\nmax_client_conn = 500\n"
            f"logfile = {self.log}\npidfile = {self.root / 'pgbouncer.pid'}\n"
            "ignore_startup_parameters = extra_float_digits\n"
        )
        for path in self.root.iterdir():
            path.chmod(0o666)
        self.process = self._start()

    def _start(self) -> subprocess.Popen[bytes]:
        binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        self.process = subprocess.Popen(
            [binary, str(self.root / "pgbouncer.ini")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            user=system_user(),  # pgbouncer refuses to run as root
        )
        self._wait_accepting()
        return self.process

    def restart(self) -> None:
        """What `systemctl restart pgbouncer` does: SIGTERM (every client and server connection dropped at once),
        then a new pgbouncer on the same port."""
        self._stop()
        self.process = self._start()

    def _wait_accepting(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"pgbouncer did not accept connections on 127.0.0.1:{self.port}")
            time.sleep(0.1)

    def url(self, database: str) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}?sslmode=disable"

    def logins(self, database: str) -> int:
        """Client logins pgbouncer logged for `database`."""
        return sum(1 for line in self.log.read_text().splitlines() if f"login attempt: db={database} " in line)

    def _stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)

    def close(self) -> None:
        self._stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PgBouncer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
