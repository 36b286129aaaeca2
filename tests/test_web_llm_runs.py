"""LLM runs, costs and daily token limits through HTTP (web/llm_runs.py): one's own usage, an administrator's
limits (validated, audited), following / cancelling / deleting a run, the limit enforced with a 429, and nothing
sent to an LLM its requester did not configure.

No kind's POST route is on this branch: a route calling `request_run` as theirs do is added to the app under test
(`/api/files/{uuid}/test-llm-run`), so the shared path (the requester's own configuration, the limit, the queue)
is tested through HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

import psycopg
import pytest
from starlette.testclient import TestClient

from config.settings import Settings
from jobs import llm_runs as run_jobs
from repo.llm_usage import TokenLimitReached
from repo.rows import Actor
from tests.web import a_file, actor_of, make_admin, register
from web import llm_runs
from web.app import create_app
from web.endpoint import Ctx, Endpoint
from web.llm_runs import RUN_RAISES, LlmRunOut, RunRequestIn, request_run

RUN_ROUTE = "/api/files/{uuid}/test-llm-run"


def _request_topics(ctx: Ctx, body: RunRequestIn) -> LlmRunOut:
    """As a kind's POST route does."""
    return request_run(ctx, "topics", body.llm_config_uuid)


@pytest.fixture
def client(app_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    route = Endpoint(
        "POST",
        RUN_ROUTE,
        _request_topics,
        "llm work",
        summary="a run as a kind requests it",
        body=RunRequestIn,
        response=LlmRunOut,
        status=202,
        raises=RUN_RAISES,
    )
    monkeypatch.setattr(llm_runs.router, "endpoints", [*llm_runs.router.endpoints, route])
    with TestClient(create_app(app_settings)) as test_client:
        yield test_client


@pytest.fixture
def url(fresh_url: str) -> str:
    return fresh_url


def person(client: TestClient, url: str) -> tuple[dict[str, str], Actor]:
    headers = register(client)
    return headers, actor_of(client, url, headers)


def admin(client: TestClient, url: str) -> tuple[dict[str, str], Actor]:
    headers = register(client)
    make_admin(url, headers, client)
    return headers, actor_of(client, url, headers)


def configure(client: TestClient, headers: dict[str, str], name: str = "Mine") -> str:
    body = {"name": name, "provider": "custom", "model_name": "stand-in", "base_url": "http://127.0.0.1:9/v1"}
    created = client.post("/api/llm-configs", headers=headers, json=body)
    assert created.status_code == 201, created.text
    uuid = str(created.json()["uuid"])
    assert client.post(f"/api/llm-configs/{uuid}/activate", headers=headers).status_code == 200
    return uuid


def spent(url: str, user: Actor, purpose: str, tokens_in: int, tokens_out: int, *, yesterday: bool = False) -> None:
    when = "date_trunc('day', now(), 'UTC') - interval '1 minute'" if yesterday else "now()"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO llm_usage (user_id, purpose, provider, model_name, input_tokens, output_tokens, reported, "
            f"latency_ms, created_at) VALUES (%s, %s, 'custom', 'stand-in', %s, %s, true, 10, {when})",
            [user.id, purpose, tokens_in, tokens_out],
        )


def audited(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(
            "SELECT actor_id, object_type, object_id, details FROM audit_log WHERE action = 'settings.update' "
            "ORDER BY id"
        ).fetchall()


def test_ones_usage_today_by_purpose_and_the_limit_that_applies(client: TestClient, url: str) -> None:
    headers, me = person(client, url)
    _, other = person(client, url)
    spent(url, me, "question", 300, 20)
    spent(url, me, "question", 100, 10)
    spent(url, me, "topics", 1000, 200)
    spent(url, me, "summary", 5000, 500, yesterday=True)
    spent(url, other, "summary", 9999, 1)
    mine = client.get("/api/users/me/llm-usage", headers=headers)
    assert mine.status_code == 200
    assert mine.json() == {
        "used_today": 1630,
        "daily_limit": None,
        "remaining": None,
        "own_limit": False,
        "by_purpose": [
            {"purpose": "question", "requests": 2, "input_tokens": 400, "output_tokens": 30},
            {"purpose": "topics", "requests": 1, "input_tokens": 1000, "output_tokens": 200},
        ],
    }
    assert client.get("/api/users/me/llm-usage").status_code == 401


def test_an_admin_sets_the_instance_limit_and_ones_own_and_each_is_audited(client: TestClient, url: str) -> None:
    admin_headers, boss = admin(client, url)
    headers, me = person(client, url)
    me_uuid = client.get("/api/users/me", headers=headers).json()["uuid"]
    spent(url, me, "topics", 700, 100)
    assert client.get("/api/admin/llm-limit", headers=admin_headers).json() == {"daily_tokens": None}
    put = client.put("/api/admin/llm-limit", headers=admin_headers, json={"daily_tokens": 5000})
    assert put.status_code == 200 and put.json() == {"daily_tokens": 5000}
    assert client.get("/api/admin/llm-limit", headers=admin_headers).json() == {"daily_tokens": 5000}
    mine = client.get("/api/users/me/llm-usage", headers=headers).json()
    assert (mine["daily_limit"], mine["remaining"], mine["own_limit"]) == (5000, 4200, False)
    own = client.put(f"/api/admin/users/{me_uuid}/llm-limit", headers=admin_headers, json={"daily_tokens": 1000})
    assert own.status_code == 200
    assert (own.json()["daily_limit"], own.json()["remaining"], own.json()["own_limit"]) == (1000, 200, True)
    seen = client.get(f"/api/admin/users/{me_uuid}/llm-usage", headers=admin_headers).json()
    assert seen["used_today"] == 800 and seen["daily_limit"] == 1000
    cleared = client.put(f"/api/admin/users/{me_uuid}/llm-limit", headers=admin_headers, json={"daily_tokens": None})
    assert (cleared.json()["daily_limit"], cleared.json()["own_limit"]) == (5000, False)
    assert audited(url) == [
        (boss.id, "llm", "daily_token_limit", {"setting": "llm.daily_token_limit", "from": None, "to": 5000}),
        (boss.id, "user", me_uuid, {"setting": "llm.daily_token_limit", "to": 1000}),
        (boss.id, "user", me_uuid, {"setting": "llm.daily_token_limit", "to": None}),
    ]


@pytest.mark.parametrize("value", [-1, 1e308, 10**13, "5000", "many", True, 12.5, [], {}])
def test_a_limit_that_is_not_a_whole_number_of_tokens_in_bounds_is_refused_naming_it(
    client: TestClient, url: str, value: Any
) -> None:
    admin_headers, _ = admin(client, url)
    headers, _ = person(client, url)
    me_uuid = client.get("/api/users/me", headers=headers).json()["uuid"]
    for path in ("/api/admin/llm-limit", f"/api/admin/users/{me_uuid}/llm-limit"):
        refused = client.put(path, headers=admin_headers, json={"daily_tokens": value})
        assert refused.status_code == 422, refused.text
        assert refused.json()["field"] == "daily_tokens" and "daily_tokens" in refused.json()["detail"]
    assert client.get("/api/admin/llm-limit", headers=admin_headers).json() == {"daily_tokens": None}
    assert audited(url) == []


def test_only_an_admin_reads_or_sets_limits(client: TestClient, url: str) -> None:
    headers, _ = person(client, url)
    other_headers, _ = person(client, url)
    other_uuid = client.get("/api/users/me", headers=other_headers).json()["uuid"]
    for method, path, body in [
        ("GET", "/api/admin/llm-limit", None),
        ("PUT", "/api/admin/llm-limit", {"daily_tokens": 10**9}),
        ("GET", f"/api/admin/users/{other_uuid}/llm-usage", None),
        ("PUT", f"/api/admin/users/{other_uuid}/llm-limit", {"daily_tokens": 10**9}),
    ]:
        assert client.request(method, path, headers=headers, json=body).status_code == 403, path
    assert audited(url) == []


def run_on(client: TestClient, url: str, headers: dict[str, str], file_uuid: str, **body: Any) -> Any:
    return client.post(RUN_ROUTE.replace("{uuid}", file_uuid), headers=headers, json=body)


def test_a_run_is_followed_listed_cancelled_at_once_while_pending_and_deleted(client: TestClient, url: str) -> None:
    headers, me = person(client, url)
    configure(client, headers)
    file_uuid = a_file(url, me, status="completed")
    queued = run_on(client, url, headers, file_uuid)
    assert queued.status_code == 202, queued.text
    run = queued.json()
    assert (run["kind"], run["status"], run["model_name"], run["requests"]) == ("topics", "pending", "stand-in", 0)
    got = client.get(f"/api/llm-runs/{run['uuid']}", headers=headers)
    assert got.status_code == 200 and got.json()["costs"] == [] and got.json()["status"] == "pending"
    listed = client.get(f"/api/files/{file_uuid}/llm-runs", headers=headers, params={"kind": "topics"}).json()
    assert [r["uuid"] for r in listed] == [run["uuid"]]
    assert client.get(f"/api/files/{file_uuid}/llm-runs", headers=headers, params={"kind": "translation"}).json() == []
    assert client.delete(f"/api/llm-runs/{run['uuid']}", headers=headers).status_code == 409  # still pending
    cancelled = client.post(f"/api/llm-runs/{run['uuid']}/cancel", headers=headers)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = client.post(f"/api/llm-runs/{run['uuid']}/cancel", headers=headers)
    assert again.status_code == 409 and again.json()["field"] == "status"
    assert client.delete(f"/api/llm-runs/{run['uuid']}", headers=headers).status_code == 204
    assert client.get(f"/api/llm-runs/{run['uuid']}", headers=headers).status_code == 404


def test_a_queued_runs_costs_are_listed_per_request(client: TestClient, url: str) -> None:
    headers, me = person(client, url)
    config_uuid = configure(client, headers)
    file_uuid = a_file(url, me, status="completed")
    with psycopg.connect(url, autocommit=True) as conn:
        file_id, config_id = conn.execute(
            "SELECT (SELECT id FROM media_files WHERE uuid = %s), (SELECT id FROM user_llm_configurations "
            "WHERE uuid = %s)",
            [file_uuid, config_uuid],
        ).fetchone() or (0, 0)
        run, _ = run_jobs.queue_run(conn, me, "translation", file_id, config_id, language="ja")
        conn.execute(
            "INSERT INTO llm_usage (user_id, purpose, subject, provider, model_name, input_tokens, output_tokens, "
            "reported, latency_ms) VALUES (%s, 'translation', %s, 'custom', 'stand-in', 120, 30, false, 800)",
            [me.id, run.uuid],
        )
    got = client.get(f"/api/llm-runs/{run.uuid}", headers=headers).json()
    assert (got["kind"], got["language"], got["language_name"]) == ("translation", "ja", "Japanese")
    [cost] = got["costs"]
    assert (cost["input_tokens"], cost["output_tokens"], cost["reported"], cost["latency_ms"]) == (120, 30, False, 800)
    other_headers = register(client)
    assert client.get(f"/api/llm-runs/{run.uuid}", headers=other_headers).status_code == 404


def test_a_run_over_the_daily_limit_is_refused_with_when_to_try_again(client: TestClient, url: str) -> None:
    admin_headers, _ = admin(client, url)
    headers, me = person(client, url)
    configure(client, headers)
    file_uuid = a_file(url, me, status="completed")
    assert client.put("/api/admin/llm-limit", headers=admin_headers, json={"daily_tokens": 1000}).status_code == 200
    spent(url, me, "summary", 900, 100)
    refused = run_on(client, url, headers, file_uuid)
    assert refused.status_code == 429, refused.text
    assert 0 < int(refused.headers["Retry-After"]) <= 86400
    assert "daily LLM token limit reached: 1,000 of 1,000 tokens used today" in refused.json()["detail"]
    assert client.get(f"/api/files/{file_uuid}/llm-runs", headers=headers).json() == []
    with psycopg.connect(url, autocommit=True) as conn:
        file_id = (conn.execute("SELECT id FROM media_files WHERE uuid = %s", [file_uuid]).fetchone() or (0,))[0]
        config_id = (
            conn.execute("SELECT id FROM user_llm_configurations WHERE user_id = %s", [me.id]).fetchone() or (0,)
        )[0]
        with pytest.raises(TokenLimitReached):
            run_jobs.queue_run(conn, me, "topics", file_id, config_id)
    # a limit of one's own lifts it
    me_uuid = client.get("/api/users/me", headers=headers).json()["uuid"]
    lifted = client.put(f"/api/admin/users/{me_uuid}/llm-limit", headers=admin_headers, json={"daily_tokens": 5000})
    assert lifted.status_code == 200
    assert run_on(client, url, headers, file_uuid).status_code == 202


def test_nothing_is_sent_to_an_llm_its_requester_did_not_configure(client: TestClient, url: str) -> None:
    admin_headers, _ = admin(client, url)
    admins_config = configure(client, admin_headers, "The admin's")
    headers, me = person(client, url)
    other_headers, _ = person(client, url)
    others_config = configure(client, other_headers, "Another's")
    file_uuid = a_file(url, me, status="completed")
    # without a configuration of one's own: refused, though the admin and another person have one
    for body in ({}, {"llm_config_uuid": admins_config}, {"llm_config_uuid": others_config}):
        refused = run_on(client, url, headers, file_uuid, **body)
        assert refused.status_code == 409 and refused.json()["field"] == "llm_config_uuid", refused.text
        summary = client.post(f"/api/files/{file_uuid}/summaries", headers=headers, json=body)
        assert summary.status_code == 409 and summary.json()["field"] == "llm_config_uuid", summary.text
    mine = configure(client, headers)
    for body in ({"llm_config_uuid": admins_config}, {"llm_config_uuid": others_config}):
        refused = run_on(client, url, headers, file_uuid, **body)
        assert refused.status_code == 409 and refused.json()["field"] == "llm_config_uuid", refused.text
    assert client.get(f"/api/files/{file_uuid}/llm-runs", headers=headers).json() == []
    # an administrator in the all-files view reaches the file, never its owner's configuration
    seen_all = client.post(
        RUN_ROUTE.replace("{uuid}", file_uuid) + "?view=all", headers=admin_headers, json={"llm_config_uuid": mine}
    )
    assert seen_all.status_code == 409 and seen_all.json()["field"] == "llm_config_uuid", seen_all.text
    used = run_on(client, url, headers, file_uuid, llm_config_uuid=mine)
    assert used.status_code == 202
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT c.uuid, c.user_id FROM llm_runs r JOIN user_llm_configurations c ON c.id = r.llm_configuration_id"
        ).fetchall()
    assert rows == [(UUID(mine), me.id)]
