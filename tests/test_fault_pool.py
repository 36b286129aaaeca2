"""Issue 7, item 5: 200 concurrent clients on a pool of 10.

A test-only route (added through create_app's `extra_routes`, declared like every production endpoint so it runs
in the same per-request transaction) holds its connection in pg_sleep. Requests that find no free connection wait
up to DB_POOL_TIMEOUT, then get 503 with Retry-After; none gets a 500 or hangs; afterwards the pool is idle again,
a normal request succeeds and PostgreSQL shows no session of the app left in a transaction.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from config.settings import Settings
from repo import schema
from tests.fault_support import backends, concurrent_requests, serve_app, users_with_tokens, wait_until
from web.endpoint import Ctx, Endpoint
from web.pipeline import routes

pytestmark = pytest.mark.slow

CLIENTS = 200
POOL_MAX = 10
POOL_TIMEOUT = 2.0
HOLD_SECONDS = 1.0
CLIENT_TIMEOUT = 60.0


def hold(ctx: Ctx) -> Response:
    """Keep this request's pooled connection busy for a while."""
    ctx.conn.execute("SELECT pg_sleep(%s)", [HOLD_SECONDS])
    return JSONResponse({"held": HOLD_SECONDS})


HOLD_ROUTES: list[BaseRoute] = [*routes([Endpoint("GET", "/test/hold", hold, "test", auth=False)])]


def test_pool_exhaustion_answers_503_after_the_pool_timeout_and_leaks_nothing(fresh_url: str, tmp_path: Path) -> None:
    settings = Settings(
        database_url=schema.to_url(fresh_url),
        redis_url=f"unix://{tmp_path / 'no-redis.sock'}",  # not used by these routes; keeps off any real Redis
        opentr_home=tmp_path / "home",
        db_pool_min=1,
        db_pool_max=POOL_MAX,
        db_pool_timeout=POOL_TIMEOUT,
    )
    with serve_app(settings, extra_routes=HOLD_ROUTES) as app:
        headers = users_with_tokens(fresh_url, 1)[0]
        peak = {"waiting": 0, "size": 0}
        storm_over = threading.Event()

        def sample() -> None:
            while not storm_over.wait(0.05):
                stats = app.pool_stats()
                peak["waiting"] = max(peak["waiting"], stats.get("requests_waiting", 0))
                peak["size"] = max(peak["size"], stats.get("pool_size", 0))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.monotonic()
        try:
            results = concurrent_requests(app.url, "GET", "/test/hold", CLIENTS, CLIENT_TIMEOUT)
        finally:
            storm_over.set()
            sampler.join(timeout=5)
        storm_seconds = time.monotonic() - started

        statuses = Counter(status for status, _, _ in results)
        hung = [answer for status, _, answer in results if status is None]
        assert not hung, f"{len(hung)} clients got no answer within {CLIENT_TIMEOUT:g} s: {hung[:3]}"
        assert set(statuses) <= {200, 503}, f"unexpected statuses: {statuses}"
        assert statuses[200] >= POOL_MAX and statuses[503] > 0, statuses
        refused = [(seconds, answer) for status, seconds, answer in results if status == 503]
        for seconds, response in refused:
            assert response.headers.get("retry-after", "").isdigit(), response.headers
            assert response.json()["detail"] == f"no database connection free within {POOL_TIMEOUT:g} s"
            assert seconds >= POOL_TIMEOUT * 0.95, f"a 503 after {seconds:.2f} s: it did not wait for a connection"
        assert peak["size"] <= POOL_MAX and peak["waiting"] > 0

        settled = wait_until(
            lambda: (s := app.pool_stats())["requests_waiting"] == 0 and s["pool_available"] == s["pool_size"],
            10,
            "the pool to be idle again",
        )
        stats = app.pool_stats()
        assert stats["pool_size"] <= POOL_MAX
        sessions = backends(fresh_url, "opentr-web")
        assert set(sessions) <= {"idle"}, f"sessions of the app still busy or in a transaction: {sessions}"
        assert sum(sessions.values()) == stats["pool_size"] <= POOL_MAX
        after = concurrent_requests(app.url, "GET", "/api/files", 1, 10, headers)
        assert after[0][0] == 200, after

    slowest_ok = max(seconds for status, seconds, _ in results if status == 200)
    print(
        f"{CLIENTS} clients in {storm_seconds:.1f} s: {statuses[200]} x 200, {statuses[503]} x 503 "
        f"(each after {min(s for s, _ in refused):.2f}-{max(s for s, _ in refused):.2f} s); slowest 200 "
        f"{slowest_ok:.2f} s; peak {peak['waiting']} waiting on {peak['size']} connections; idle again after "
        f"{settled:.2f} s; pool {stats}"
    )
