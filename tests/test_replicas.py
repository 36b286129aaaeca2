"""Read replicas against a real streaming replica (`pg_basebackup -R`) on loopback, replaying 2 s behind.

Which server served a request is asked from the serving connection itself (`pg_is_in_recovery()`), through a
test-only endpoint mounted next to the real API.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute
from starlette.testclient import TestClient

from bench.cluster import ReplicatedPostgres
from config.settings import Settings
from repo import schema
from repo.database import Database
from tests.fault_support import users_with_tokens, wait_until
from tests.scale_support import serving_server
from web.app import create_app
from web.endpoint import Ctx, Router, routes

APPLY_DELAY_SECONDS = 2
probe = Router("test")


@probe.get("/api/test/served-by")
def served_by(ctx: Ctx) -> JSONResponse:
    """Which server runs this request's transaction."""
    ctx.actor  # noqa: B018 - authenticated like any read
    in_recovery, port = serving_server(ctx.conn)
    return JSONResponse({"replica": in_recovery, "port": port})


PROBE_ROUTES: list[BaseRoute] = [*routes(probe.endpoints)]


@pytest.fixture(scope="module")
def cluster() -> Iterator[ReplicatedPostgres]:
    with ReplicatedPostgres(apply_delay=f"{APPLY_DELAY_SECONDS}s") as servers:
        yield servers


def _settings(primary: str, replica: str, tmp_path: Path, redis_url: str = "") -> Settings:
    return Settings(
        database_url=schema.to_url(primary),
        database_replica_urls=schema.to_url(replica),
        db_replica_max_lag=30,
        redis_url=redis_url or None,
        opentr_home=tmp_path / "home",
        db_pool_min=1,
        db_pool_max=4,
        db_pool_timeout=5,
    )


def _served(client: TestClient, headers: dict[str, str]) -> bool:
    response = client.get("/api/test/served-by", headers=headers)
    assert response.status_code == 200, response.text
    return bool(response.json()["replica"])


def test_read_only_transactions_run_on_the_replica_and_writes_on_the_primary(
    cluster: ReplicatedPostgres, tmp_path: Path
) -> None:
    primary, replica = cluster.create_database("opentr_replica_db")
    with Database(primary, _settings(primary, replica, tmp_path)) as db:
        with db.transaction(read_only=True) as conn:
            assert serving_server(conn) == (True, cluster.replica.port)
        with db.transaction() as conn:
            assert serving_server(conn) == (False, cluster.primary.port)
        assert db.last_write_lsn() is not None


def test_a_user_reads_their_own_write_while_the_replica_is_behind_and_others_read_the_replica(
    cluster: ReplicatedPostgres, tmp_path: Path, redis_url: str
) -> None:
    primary, replica = cluster.create_database("opentr_replica_web")
    ann, bob = users_with_tokens(primary, 2)
    cluster.wait_replayed()
    app = create_app(_settings(primary, replica, tmp_path, redis_url), extra_routes=PROBE_ROUTES)
    with TestClient(app) as client:
        assert _served(client, ann) is True

        renamed = client.put("/api/users/me", headers=ann, json={"full_name": "Ann Renamed"})
        assert renamed.status_code == 200
        me = client.get("/api/users/me", headers=ann)
        assert me.status_code == 200 and me.json()["full_name"] == "Ann Renamed"
        assert _served(client, ann) is False  # the replica has not replayed Ann's write yet
        with psycopg.connect(replica, autocommit=True) as conn:
            on_replica = conn.execute("SELECT count(*) FROM users WHERE full_name = 'Ann Renamed'").fetchone()
        assert on_replica == (0,)  # ...which the replica itself confirms
        assert _served(client, bob) is True  # Bob wrote nothing: his reads stay on the replica

        cluster.wait_replayed()
        wait_until(lambda: _served(client, ann), 10, "Ann's reads to return to the replica once it caught up")

        cluster.replica.stop()
        try:
            me = client.get("/api/users/me", headers=bob)
            assert me.status_code == 200 and me.json()["email"]
            assert _served(client, bob) is False
            assert _served(client, ann) is False
        finally:
            cluster.replica.start()


def test_a_token_issued_moments_ago_is_accepted_before_the_replica_has_it(
    cluster: ReplicatedPostgres, tmp_path: Path, redis_url: str
) -> None:
    primary, replica = cluster.create_database("opentr_replica_token")
    app = create_app(_settings(primary, replica, tmp_path, redis_url), extra_routes=PROBE_ROUTES)
    with TestClient(app) as client:
        registered = client.post(
            "/api/auth/register", json={"email": "new@example.com", "password": "correct horse", "full_name": "N"}
        )
        assert registered.status_code == 201
        token = client.post("/api/auth/token", data={"username": "new@example.com", "password": "correct horse"})
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        me = client.get("/api/users/me", headers=headers)
        assert me.status_code == 200 and me.json()["email"] == "new@example.com"
