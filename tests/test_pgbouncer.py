"""Behind a real PgBouncer (Debian's package) in transaction mode: the whole journey passes through it, while
migrations, job leases (session advisory locks) and LISTEN for live notifications use DATABASE_DIRECT_URL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from config.settings import Settings
from repo import schema
from tests import test_journey as journey
from tests.fuzz_support import private_redis as private_redis_server
from tests.llm_servers import LocalServer, Reply, openai_answer
from tests.scale_support import PgBouncer
from tests.workers_support import WorkerEnv
from web.app import create_app


@pytest.fixture(scope="module")
def bouncer(server_url: str) -> Iterator[PgBouncer]:
    with PgBouncer(server_url) as pooler:
        yield pooler


@dataclass
class PooledWorkerEnv(WorkerEnv):
    """Web and workers started with DATABASE_URL on PgBouncer and DATABASE_DIRECT_URL on the server itself."""

    pooled_url: str = ""

    def env(self, **extra: str) -> dict[str, str]:
        direct = schema.to_url(self.conninfo)
        return super().env(DATABASE_URL=self.pooled_url, DATABASE_DIRECT_URL=direct, **extra)


@pytest.fixture
def pooled(fresh_url: str, bouncer: PgBouncer, tmp_path: Path) -> Iterator[PooledWorkerEnv]:
    with private_redis_server() as redis_url:
        yield PooledWorkerEnv(fresh_url, redis_url, tmp_path / "home", bouncer.url(schema.database_name(fresh_url)))


def test_the_whole_journey_runs_through_pgbouncer_in_transaction_mode(
    pooled: PooledWorkerEnv, bouncer: PgBouncer, tmp_path: Path
) -> None:
    server = LocalServer(lambda _: Reply(body=openai_answer(json.dumps(journey.BLUF))))
    server.start()
    try:
        journey.test_whole_journey_through_a_real_server_and_worker(pooled, server, tmp_path)
    finally:
        server.stop()
    assert bouncer.logins(schema.database_name(pooled.conninfo)) > 0, "the web and the workers went through it"


def test_live_notifications_listen_on_the_direct_url_behind_pgbouncer(
    pooled: PooledWorkerEnv, app_settings: Settings
) -> None:
    settings = app_settings.model_copy(
        update={
            "database_url": pooled.pooled_url,
            "database_direct_url": schema.to_url(pooled.conninfo),
            "redis_url": pooled.redis_url,
            "opentr_home": pooled.home,
        }
    )
    with TestClient(create_app(settings)) as client:
        journey._websocket_journey(client, pooled)


def test_migrations_take_their_lock_on_the_direct_url(empty_url: str, bouncer: PgBouncer, tmp_path: Path) -> None:
    name = schema.database_name(empty_url)
    env = {
        **os.environ,
        "DATABASE_URL": bouncer.url(name),
        "DATABASE_DIRECT_URL": schema.to_url(empty_url),
        "OPENTR_HOME": str(tmp_path / "home"),
    }
    result = subprocess.run(
        [sys.executable, "-m", "opentr_cli", "db", "migrate", "--no-backup"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert schema.readiness(empty_url) is None
    assert all(applied for _, applied in schema.status(empty_url))
    assert bouncer.logins(name) == 0, "nothing of the migration went through the transaction pooler"
