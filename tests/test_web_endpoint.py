"""The request pipeline (declared in web/endpoint.py, run by web/pipeline.py), through routes declared only for
these tests: strict bodies, the response model checked before commit, deadlocks re-run then 409, and sign-in tokens
that hold no lock."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from pydantic import BaseModel
from starlette.testclient import TestClient

from config.settings import Settings
from repo.tags import TagRepository
from tests.web import register
from web.app import create_app
from web.endpoint import Ctx, Router
from web.pipeline import TRANSACTION_ATTEMPTS, routes

router = Router("test")
calls: Counter[str] = Counter()
handler_times: list[tuple[float, float]] = []
deadlock_barrier = threading.Barrier(2, timeout=20)


class Strict(BaseModel):
    number: float
    count: int


class Named(BaseModel):
    name: str
    size: int


@router.post("/api/test/strict", body=Strict, response=Strict)
def echo(ctx: Ctx, body: Strict) -> Strict:
    """Echo a strictly validated body."""
    return body


@router.post("/api/test/misfit", response=Named, status=201)
def misfit(ctx: Ctx) -> dict[str, Any]:
    """Write a tag, then answer outside the response model."""
    TagRepository(ctx.conn).get_or_create("written-by-misfit")
    return {"name": "x"}


@router.post("/api/test/deadlock/{first}/{second}")
def deadlock(ctx: Ctx) -> None:
    """Lock tag `first`, wait for the partner request (first attempt only), then lock tag `second`."""
    first, second = ctx.request.path_params["first"], ctx.request.path_params["second"]
    calls[first] += 1
    ctx.conn.execute("UPDATE tags SET name = name WHERE name = %s", [first])
    if calls[first] == 1:
        deadlock_barrier.wait()
    ctx.conn.execute("UPDATE tags SET name = name WHERE name = %s", [second])


@router.post("/api/test/serialization")
def always_conflicting(ctx: Ctx) -> None:
    """Fail every attempt with a real serialization failure raised by PostgreSQL."""
    calls["serialization"] += 1
    ctx.conn.execute("DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = 'serialization_failure'; END $$")


@router.get("/api/test/slow")
def slow(ctx: Ctx) -> None:
    """Hold the request's transaction for a second."""
    started = time.monotonic()
    ctx.conn.execute("SELECT pg_sleep(1)")
    handler_times.append((started, time.monotonic()))


@pytest.fixture
def app_client(app_settings: Settings) -> Iterator[TestClient]:
    calls.clear()
    handler_times.clear()
    deadlock_barrier.reset()
    settings = app_settings.model_copy(update={"db_pool_max": 8})
    with TestClient(create_app(settings, extra_routes=list(routes(router.endpoints)))) as client:
        yield client


def test_json_bodies_are_strict_but_an_integer_is_a_float(app_client: TestClient) -> None:
    headers = register(app_client)
    ok = app_client.post("/api/test/strict", headers=headers, json={"number": 2, "count": 3})
    assert ok.status_code == 200 and ok.json() == {"number": 2.0, "count": 3}
    for body, field in [
        ({"number": False, "count": 3}, "number"),
        ({"number": 1.5, "count": True}, "count"),
        ({"number": 1.5, "count": "12"}, "count"),
        ({"number": "1.5", "count": 1}, "number"),
    ]:
        response = app_client.post("/api/test/strict", headers=headers, json=body)
        assert response.status_code == 422 and response.json()["field"] == field, body


def test_a_missing_body_is_a_422_naming_it(app_client: TestClient) -> None:
    headers = register(app_client)
    for content in (b"", b"  "):
        response = app_client.post("/api/test/strict", headers=headers, content=content)
        assert response.status_code == 422 and response.json()["field"] == "body"


def test_an_answer_outside_its_response_model_is_a_500_and_rolls_back(
    app_client: TestClient, fresh_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    quiet = TestClient(app_client.app, raise_server_exceptions=False)  # answer as a server would, 500 included
    response = quiet.post("/api/test/misfit", headers=register(app_client))
    assert response.status_code == 500
    assert "answered outside its response model" in caplog.text
    with psycopg.connect(fresh_url) as conn:
        assert conn.execute("SELECT count(*) FROM tags WHERE name = 'written-by-misfit'").fetchone() == (0,)


def test_a_deadlock_between_two_requests_is_re_run_and_both_succeed(app_client: TestClient, fresh_url: str) -> None:
    headers = register(app_client)
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        conn.execute("INSERT INTO tags (name) VALUES ('left'), ('right')")
    with ThreadPoolExecutor(2) as pool:
        one = pool.submit(app_client.post, "/api/test/deadlock/left/right", headers=headers)
        two = pool.submit(app_client.post, "/api/test/deadlock/right/left", headers=headers)
        statuses = sorted([one.result().status_code, two.result().status_code])
    assert statuses == [204, 204]
    assert sorted(calls.values()) == [1, 2], "the request PostgreSQL chose as the deadlock victim ran again"
    assert app_client.app.state.services.db.stats()["transaction_retries"] == 1  # type: ignore[attr-defined]


def test_serialization_failures_past_the_retries_are_409_try_again(app_client: TestClient) -> None:
    response = app_client.post("/api/test/serialization", headers=register(app_client))
    assert response.status_code == 409 and "try again" in response.json()["detail"]
    assert int(response.headers["Retry-After"]) >= 1
    assert calls["serialization"] == TRANSACTION_ATTEMPTS


def test_requests_sharing_a_token_do_not_queue_behind_its_last_used_update(
    app_client: TestClient, fresh_url: str
) -> None:
    headers = register(app_client)
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        conn.execute("UPDATE auth_tokens SET last_used_at = NULL")  # due to be recorded by every request
    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(lambda _: app_client.get("/api/test/slow", headers=headers), range(4)))
    assert [r.status_code for r in responses] == [204] * 4
    assert len(handler_times) == 4
    latest_start, earliest_end = max(t[0] for t in handler_times), min(t[1] for t in handler_times)
    assert latest_start < earliest_end, "the four requests ran one after another, not together"
    with psycopg.connect(fresh_url) as conn:
        assert conn.execute("SELECT count(*) FROM auth_tokens WHERE last_used_at IS NOT NULL").fetchone() == (1,)
