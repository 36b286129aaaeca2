"""Servers the scale tests start on loopback: a PostgreSQL primary with a streaming replica (`pg_basebackup -R`),
PgBouncer in transaction mode, and an S3-compatible server. Each lives in a temporary directory, listens on
127.0.0.1 on a free port, and is stopped by the test that started it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from bench.cluster import free_port, system_user
from tests.fault_support import wait_until


def serving_server(conn: psycopg.Connection[Any]) -> tuple[bool, int]:
    """(in recovery, port) of the server behind a connection: a replica answers True."""
    row = conn.execute("SELECT pg_is_in_recovery(), inet_server_port()").fetchone()
    assert row is not None
    return bool(row[0]), int(row[1])


def wait_port(port: int, timeout: float = 20) -> None:
    def accepting() -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", port)) == 0

    wait_until(accepting, timeout, f"127.0.0.1:{port} to accept connections", interval=0.1)


def elapsed_since(start: float) -> float:
    return time.monotonic() - start


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
        process = subprocess.Popen(
            [binary, str(self.root / "pgbouncer.ini")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            user=system_user(),  # pgbouncer refuses to run as root
        )
        wait_port(self.port)
        return process

    def restart(self) -> None:
        """What `systemctl restart pgbouncer` does: SIGTERM (every client and server connection dropped at once),
        then a new pgbouncer on the same port."""
        self._stop()
        self.process = self._start()

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
