"""Servers the scale tests start on loopback: a PostgreSQL primary with a streaming replica (`pg_basebackup -R`),
PgBouncer in transaction mode (both in bench/cluster.py, which `python -m bench --only concurrency` starts too),
and an S3-compatible server. Each lives in a temporary directory, listens on 127.0.0.1 on a free port, and is
stopped by the test that started it.
"""

from __future__ import annotations

import socket
import time
from typing import Any

import psycopg

from bench.cluster import PgBouncer, free_port, system_user
from tests.fault_support import wait_until

__all__ = ["PgBouncer", "elapsed_since", "free_port", "serving_server", "system_user", "wait_port"]


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
