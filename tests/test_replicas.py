"""Read replicas against a real streaming replica (`pg_basebackup -R`) on loopback, replaying 2 s behind.

Which server served an API request is asked from the serving connection itself (`pg_is_in_recovery()`), through a
test-only endpoint mounted next to the real API; which server served a page is counted in the servers' own logs.
Pages go through the API's pipeline (web/pipeline.py): they read on the replica, read their own form posts while
replay is paused, and a deadlock on a form post is re-run.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute
from starlette.testclient import TestClient

from bench.cluster import Cluster, ReplicatedPostgres
from config.settings import Settings
from repo import schema
from repo.database import Database
from tests.fault_support import users_with_tokens, wait_until
from tests.scale_support import serving_server
from tests.test_ui_media import transcribed_file
from tests.web import actor_of, sign_up
from web.app import create_app
from web.endpoint import Ctx, Router
from web.pipeline import routes

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


# --- pages: the same pipeline as the API (web/pipeline.py) ------------------------------------------------------
# Which server ran a page's transaction is counted on the servers themselves: the test's database logs every
# statement (`log_statement = 'all'`, set on the primary and replicated with the catalog), and each read-only
# transaction starts with `SET TRANSACTION READ ONLY`, which only a request's read transaction sends.

READ_ONLY = "SET TRANSACTION READ ONLY"


def _logged_database(cluster: ReplicatedPostgres, name: str) -> tuple[str, str]:
    primary, replica = cluster.create_database(name)
    with psycopg.connect(cluster.primary.admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} SET log_statement = 'all'").format(sql.Identifier(name)))
    cluster.wait_replayed()
    return primary, replica


def _read_only_transactions(server: Cluster) -> int:
    return (server.pgdata / "log").read_text(errors="replace").count(READ_ONLY)


class ServerCounts:
    """Read-only transactions each server ran since the last `delta()`."""

    def __init__(self, cluster: ReplicatedPostgres) -> None:
        self.cluster = cluster
        self.last = self._now()

    def _now(self) -> tuple[int, int]:
        return _read_only_transactions(self.cluster.primary), _read_only_transactions(self.cluster.replica)

    def delta(self) -> dict[str, int]:
        now = self._now()
        change = {"primary": now[0] - self.last[0], "replica": now[1] - self.last[1]}
        self.last = now
        return change


@contextmanager
def replay_paused(cluster: ReplicatedPostgres) -> Iterator[None]:
    with psycopg.connect(cluster.replica.admin_url, autocommit=True) as conn:
        conn.execute("SELECT pg_wal_replay_pause()")
        try:
            yield
        finally:
            conn.execute("SELECT pg_wal_replay_resume()")


def _speakers(client: TestClient, file_uuid: str) -> dict[str, str]:
    return {s["label"]: s["uuid"] for s in client.get(f"/api/files/{file_uuid}/speakers").json()}


def test_the_file_library_and_search_pages_of_a_signed_in_browser_run_on_the_replica(
    cluster: ReplicatedPostgres, tmp_path: Path, redis_url: str
) -> None:
    primary, replica = _logged_database(cluster, "opentr_replica_pages")
    app = create_app(_settings(primary, replica, tmp_path, redis_url))
    with TestClient(app) as client:
        sign_up(client)
        file_uuid = transcribed_file(primary, actor_of(client, primary, {}))
        cluster.wait_replayed()
        counts = ServerCounts(cluster)
        pages = {
            "/": f'data-file="{file_uuid}"',
            f"/files/{file_uuid}": "General Kenobi",
            "/search?q=Kenobi": f"/files/{file_uuid}",
        }
        for _ in range(3):
            for path, shown in pages.items():
                page = client.get(path)
                assert page.status_code == 200 and shown in page.text, path
        assert counts.delta() == {"primary": 0, "replica": 9}


def test_after_a_form_post_the_next_page_shows_the_new_value_while_the_replica_is_paused(
    cluster: ReplicatedPostgres, tmp_path: Path, redis_url: str
) -> None:
    primary, replica = _logged_database(cluster, "opentr_replica_forms")
    [bob] = users_with_tokens(primary, 1)
    app = create_app(_settings(primary, replica, tmp_path, redis_url))
    with TestClient(app) as client:
        token = sign_up(client)
        file_uuid = transcribed_file(primary, actor_of(client, primary, {}))
        speaker = _speakers(client, file_uuid)["SPEAKER_00"]
        segment = client.get(f"/api/files/{file_uuid}/transcript").json()[1]["uuid"]
        cluster.wait_replayed()
        counts = ServerCounts(cluster)
        with replay_paused(cluster):
            renamed = client.post(
                f"/files/{file_uuid}/speakers/{speaker}",
                data={"csrf": token, "display_name": "Ōkubo 大久保 🎙️"},
                follow_redirects=False,
            )
            assert renamed.status_code == 303
            edited = client.post(
                f"/files/{file_uuid}/segments/{segment}",
                data={"csrf": token, "text": "Grüß Gott, مرحبا بكم"},
                follow_redirects=False,
            )
            assert edited.status_code == 303
            # the page's script edits the title through the JSON API, with the same session
            titled = client.put(
                f"/api/files/{file_uuid}", json={"title": "会議の記録"}, headers={"X-CSRF-Token": token}
            )
            assert titled.status_code == 200
            counts.delta()

            page = client.get(f"/files/{file_uuid}").text
            assert "Ōkubo 大久保 🎙️" in page and "Grüß Gott, مرحبا بكم" in page and "<h1>会議の記録</h1>" in page
            assert counts.delta() == {"primary": 1, "replica": 0}
            with psycopg.connect(replica, autocommit=True) as conn:  # ...as the replica has none of it
                names = conn.execute("SELECT display_name FROM speakers WHERE uuid = %s", [speaker]).fetchone()
            assert names == (None,)
            # someone who wrote nothing still reads the replica, on a page too (a bearer token signs a page in)
            assert "Library" in client.get("/", headers=bob).text
            assert counts.delta() == {"primary": 0, "replica": 1}
        cluster.wait_replayed()

        def page_on_replica() -> bool:
            assert "Ōkubo 大久保 🎙️" in client.get(f"/files/{file_uuid}").text
            return counts.delta()["replica"] == 1

        wait_until(page_on_replica, 10, "the session's pages to return to the replica once it caught up")


def test_a_deadlock_on_a_form_post_is_re_run_and_the_person_sees_it_done(
    cluster: ReplicatedPostgres, tmp_path: Path, redis_url: str
) -> None:
    """A real deadlock: the merge form locks both speakers, then moves the source's segments; another connection
    holds one of those segments and then asks for the source speaker. PostgreSQL aborts the form's transaction
    (it waited first; the other connection waits 30 s before looking for deadlocks); the pipeline re-runs it."""
    primary, replica = cluster.create_database("opentr_replica_deadlock")
    app = create_app(_settings(primary, replica, tmp_path, redis_url))
    with TestClient(app) as client:
        token = sign_up(client)
        file_uuid = transcribed_file(primary, actor_of(client, primary, {}))
        speakers = _speakers(client, file_uuid)
        source, target = speakers["SPEAKER_01"], speakers["SPEAKER_00"]
        with psycopg.connect(primary) as other, ThreadPoolExecutor(1) as pool:
            other.execute("SET deadlock_timeout = '30s'")
            other.execute(
                "UPDATE transcript_segments SET text = text "
                "WHERE speaker_id = (SELECT id FROM speakers WHERE uuid = %s)",
                [source],
            )
            merge = pool.submit(
                client.post,
                f"/files/{file_uuid}/speakers-merge",
                data={"csrf": token, "source": source, "target": target},
                follow_redirects=False,
            )
            wait_until(lambda: _waiting_on_a_lock(primary), 20, "the form's transaction to wait for the segment")
            other.execute("UPDATE speakers SET display_name = display_name WHERE uuid = %s", [source])
            other.commit()  # reached only once PostgreSQL has broken the deadlock by aborting the form's attempt
            merged = merge.result(timeout=30)
        assert merged.status_code == 303 and merged.headers["location"] == f"/files/{file_uuid}#speakers"
        assert app.state.services.db.stats()["transaction_retries"] == 1
        page = client.get(merged.headers["location"])
        assert page.status_code == 200 and "unavailable" not in page.text
        assert list(_speakers(client, file_uuid)) == ["SPEAKER_00"]
        names = [s["speaker_name"] for s in client.get(f"/api/files/{file_uuid}/transcript").json()]
        assert names == ["SPEAKER_00", "SPEAKER_00"]


def _waiting_on_a_lock(conninfo: str) -> bool:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name = 'opentr-web' AND wait_event_type = 'Lock'"
        ).fetchone()
    return bool(row and row[0])


def test_the_role_matrix_holds_with_reads_on_the_replica(
    cluster: ReplicatedPostgres, tmp_path: Path, redis_url: str
) -> None:
    """The role matrix of the API and of the pages (tests/test_isolation_matrix.py, tests/test_isolation_pages.py)
    with a replica replaying 2 s behind: once it has replayed the arrangement (shares written straight into the
    primary, which no session's read-your-writes position knows of), every principal's statuses are the same, and
    the reads did run on the replica."""
    from tests import test_isolation_matrix as matrix
    from tests import test_isolation_pages as pages

    primary, replica = _logged_database(cluster, "opentr_replica_roles")
    settings = _settings(primary, replica, tmp_path, redis_url)
    counts = ServerCounts(cluster)
    with TestClient(create_app(settings)) as client:
        api_checks = matrix.role_matrix(client, primary, settings, settle=cluster.wait_replayed)
        api_reads = counts.delta()
        page_checks = pages.page_matrix(client, primary, settings, settle=cluster.wait_replayed)
        page_reads = counts.delta()
    print(f"role matrix on a replica: {api_checks} API checks ({api_reads}), {page_checks} page checks ({page_reads})")
    assert api_checks > 300 and page_checks > 200
    # most reads of the API's matrix are principals' who wrote nothing since the replica caught up; on the pages,
    # each principal's sign-in is a write, whose session reads the primary until the replica has it (2 s)
    assert api_reads["replica"] > 100 and api_reads["replica"] > 2 * api_reads["primary"], api_reads
    assert page_reads["replica"] > 20, page_reads
