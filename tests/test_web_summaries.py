"""/api/files/{uuid}/summaries and /api/summaries/{uuid} through HTTP, with the job really queued in RQ."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

import psycopg
import pytest
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from rq import Queue
from rq.job import Job

from repo.llm_usage import LlmUsageRepository
from tests import factories
from tests.web import actor_of, register

UNKNOWN = "00000000-0000-4000-8000-000000000000"
JOB = "workers.summary_job.generate_summary"


def new_file(client: Any, fresh_url: str, headers: dict[str, str]) -> str:
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        _, uuid = factories.media_file(conn, actor_of(client, fresh_url, headers), status="completed")
    return str(uuid)


def new_config(client: Any, headers: dict[str, str], name: str = "Local", activate: bool = True) -> str:
    body = {"name": name, "provider": "ollama", "model_name": f"model-{name}", "base_url": "http://127.0.0.1:9"}
    uuid: str = client.post("/api/llm-configs", headers=headers, json=body).json()["uuid"]
    if activate:
        assert client.post(f"/api/llm-configs/{uuid}/activate", headers=headers).status_code == 200
    return uuid


def row(fresh_url: str, query: str, *params: Any) -> Any:
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        return conn.execute(query, params).fetchone()


def redis_of(client: Any) -> Redis:
    return Redis.from_url(client.app.state.services.redis_url)


def test_request_queues_a_pending_summary_with_the_active_configuration_and_prompt(client: Any, fresh_url: str) -> None:
    headers = register(client)
    file_uuid = new_file(client, fresh_url, headers)
    config_uuid = new_config(client, headers)
    response = client.post(f"/api/files/{file_uuid}/summaries", headers=headers, json={})
    assert response.status_code == 202, response.text
    summary = response.json()
    assert summary["status"] == "pending" and summary["version"] == 1
    assert summary["provider"] == "ollama" and summary["model_name"] == "model-Local"
    assert {"id", "media_file_id", "user_id", "prompt_id", "llm_configuration_id"}.isdisjoint(summary)
    task_id = summary["task_id"]
    assert task_id == f"summary-{summary['uuid']}"

    stored = row(
        fresh_url,
        "SELECT s.id, p.name, c.uuid::text, m.summary_status FROM file_summaries s"
        " JOIN summary_prompts p ON p.id = s.prompt_id JOIN user_llm_configurations c ON c.id = s.llm_configuration_id"
        " JOIN media_files m ON m.id = s.media_file_id WHERE s.uuid = %s",
        summary["uuid"],
    )
    summary_id, prompt_name, used_config, file_status = stored
    assert (prompt_name, used_config, file_status) == ("Universal Content Analyzer", config_uuid, "pending")

    redis = redis_of(client)
    assert task_id in Queue("summaries", connection=redis).job_ids
    job = Job.fetch(task_id, connection=redis)
    assert job.func_name == JOB and job.args == (summary_id, task_id)

    task = client.get(f"/api/tasks/{task_id}", headers=headers)
    assert task.status_code == 200
    assert task.json()["task_type"] == "summarization" and task.json()["status"] == "pending"
    assert task.json()["file_uuid"] == file_uuid


def test_a_named_configuration_and_prompt_are_used(client: Any, fresh_url: str) -> None:
    headers = register(client)
    file_uuid = new_file(client, fresh_url, headers)
    new_config(client, headers, "Active")
    chosen = new_config(client, headers, "Chosen", activate=False)
    prompt = client.post("/api/prompts", headers=headers, json={"name": "Mine", "prompt_text": "t {transcript}"})
    body = {"llm_config_uuid": chosen, "prompt_uuid": prompt.json()["uuid"]}
    response = client.post(f"/api/files/{file_uuid}/summaries", headers=headers, json=body)
    assert response.status_code == 202 and response.json()["model_name"] == "model-Chosen"
    used = row(
        fresh_url,
        "SELECT p.name FROM file_summaries s JOIN summary_prompts p ON p.id = s.prompt_id WHERE s.uuid = %s",
        response.json()["uuid"],
    )
    assert used == ("Mine",)


def test_versions_are_listed_newest_first_and_read_one_by_one(client: Any, fresh_url: str) -> None:
    headers = register(client)
    file_uuid = new_file(client, fresh_url, headers)
    new_config(client, headers)
    first = client.post(f"/api/files/{file_uuid}/summaries", headers=headers, json={}).json()
    second = client.post(f"/api/files/{file_uuid}/summaries", headers=headers, json={}).json()
    listed = client.get(f"/api/files/{file_uuid}/summaries", headers=headers)
    assert listed.status_code == 200
    assert [(s["uuid"], s["version"]) for s in listed.json()] == [(second["uuid"], 2), (first["uuid"], 1)]
    assert "task_id" not in listed.json()[0] and "id" not in listed.json()[0]
    one = client.get(f"/api/summaries/{first['uuid']}", headers=headers)
    assert one.status_code == 200 and one.json()["version"] == 1 and one.json()["major_topics"] == []


def test_without_an_active_configuration_nothing_is_stored(client: Any, fresh_url: str) -> None:
    headers = register(client)
    file_uuid = new_file(client, fresh_url, headers)
    new_config(client, headers, activate=False)
    response = client.post(f"/api/files/{file_uuid}/summaries", headers=headers, json={})
    assert response.status_code == 409
    assert response.json()["field"] == "llm_config_uuid" and "no active LLM configuration" in response.json()["detail"]
    assert client.get(f"/api/files/{file_uuid}/summaries", headers=headers).json() == []
    assert client.get("/api/tasks", headers=headers).json()["items"] == []


def test_a_redis_outage_answers_503_and_stores_nothing(client: Any, fresh_url: str) -> None:
    headers = register(client)
    file_uuid = new_file(client, fresh_url, headers)
    new_config(client, headers)
    services = client.app.state.services
    working = services.redis
    services.redis = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        response = client.post(f"/api/files/{file_uuid}/summaries", headers=headers, json={})
    finally:
        services.redis = working
    assert response.status_code == 503 and "Redis" in response.json()["detail"]
    assert client.get(f"/api/files/{file_uuid}/summaries", headers=headers).json() == []
    assert client.get("/api/tasks", headers=headers).json()["items"] == []
    assert row(fresh_url, "SELECT summary_status FROM media_files WHERE uuid = %s", file_uuid) == (None,)


def test_an_enqueue_failure_after_commit_keeps_the_summary_and_warns(
    client: Any, fresh_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    headers = register(client)
    file_uuid = new_file(client, fresh_url, headers)
    new_config(client, headers)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RedisConnectionError("connection reset")

    monkeypatch.setattr("jobs.dispatch.Queue.enqueue", broken)
    with caplog.at_level(logging.WARNING, logger="opentr.dispatch"):
        response = client.post(f"/api/files/{file_uuid}/summaries", headers=headers, json={})
    assert response.status_code == 202
    assert [s["uuid"] for s in client.get(f"/api/files/{file_uuid}/summaries", headers=headers).json()] == [
        response.json()["uuid"]
    ]
    assert any("the dispatcher will retry it" in record.getMessage() for record in caplog.records)


def test_another_users_file_configuration_prompt_and_summary_are_not_found(client: Any, fresh_url: str) -> None:
    owner, stranger = register(client), register(client)
    file_uuid = new_file(client, fresh_url, owner)
    owner_config = new_config(client, owner)
    owner_prompt = client.post("/api/prompts", headers=owner, json={"name": "Mine", "prompt_text": "t"}).json()
    summary = client.post(f"/api/files/{file_uuid}/summaries", headers=owner, json={}).json()
    new_config(client, stranger)
    assert client.post(f"/api/files/{file_uuid}/summaries", headers=stranger, json={}).status_code == 404
    assert client.get(f"/api/files/{file_uuid}/summaries", headers=stranger).status_code == 404
    assert client.get(f"/api/summaries/{summary['uuid']}", headers=stranger).status_code == 404
    own_file = new_file(client, fresh_url, stranger)
    for body, field in [
        ({"llm_config_uuid": owner_config}, "llm_config_uuid"),
        ({"prompt_uuid": owner_prompt["uuid"]}, "prompt_uuid"),
    ]:
        response = client.post(f"/api/files/{own_file}/summaries", headers=stranger, json=body)
        assert response.status_code == 409 and response.json()["field"] == field
    assert client.get(f"/api/files/{own_file}/summaries", headers=stranger).json() == []
    assert len(client.get(f"/api/files/{file_uuid}/summaries", headers=owner).json()) == 1


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("/api/files/nope/summaries", {}, 422, "uuid"),
        ("/api/files/{file}/summaries", {"prompt_uuid": "x"}, 422, "prompt_uuid"),
        ("/api/files/{file}/summaries", {"llm_config_uuid": 5}, 422, "llm_config_uuid"),
        ("/api/files/{file}/summaries", {"model": "gpt"}, 422, "model"),
        ("/api/files/{file}/summaries", [1], 422, "body"),
        ("/api/files/{file}/summaries", {"language": "xx"}, 422, "language"),
        ("/api/files/{file}/summaries", {"language": "日本語"}, 422, "language"),
    ],
)
def test_malformed_requests_name_the_field(
    client: Any, fresh_url: str, path: str, body: Any, status: int, field: str
) -> None:
    headers = register(client)
    new_config(client, headers)
    response = client.post(path.format(file=new_file(client, fresh_url, headers)), headers=headers, json=body)
    assert response.status_code == status
    assert response.json()["field"] == field


def test_malformed_uuids_on_reads_name_the_field(client: Any) -> None:
    headers = register(client)
    for path in ["/api/files/nope/summaries", "/api/summaries/nope"]:
        response = client.get(path, headers=headers)
        assert response.status_code == 422 and response.json()["field"] == "uuid", path
    assert client.get(f"/api/summaries/{UNKNOWN}", headers=headers).status_code == 404
    assert client.get(f"/api/files/{UNKNOWN}/summaries", headers=headers).status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", f"/api/files/{UNKNOWN}/summaries"),
        ("GET", f"/api/files/{UNKNOWN}/summaries"),
        ("GET", f"/api/summaries/{UNKNOWN}"),
        ("POST", f"/api/summaries/{UNKNOWN}/cancel"),
    ],
)
def test_every_route_needs_a_token(client: Any, method: str, path: str) -> None:
    assert client.request(method, path, json={}).status_code == 401


def test_a_finished_summary_version_can_be_deleted_and_the_file_follows_its_newest_remaining_one(
    client: Any, fresh_url: str
) -> None:
    headers = register(client)
    owner = actor_of(client, fresh_url, headers)
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        file_id, file_uuid = factories.media_file(conn, owner, status="completed", summary_status="failed")
        versions = {}
        for version, status in [(1, "completed"), (2, "completed"), (3, "failed")]:
            row = conn.execute(
                "INSERT INTO file_summaries (media_file_id, user_id, version, status, bluf) "
                "VALUES (%s, %s, %s, %s, %s) RETURNING uuid",
                [file_id, owner.id, version, status, f"version {version}"],
            ).fetchone()
            assert row is not None
            versions[version] = str(row[0])

    def summary_status() -> Any:
        return client.get(f"/api/files/{file_uuid}", headers=headers).json()["summary_status"]

    assert client.delete(f"/api/summaries/{versions[3]}", headers=register(client)).status_code == 404
    assert client.delete(f"/api/summaries/{versions[3]}", headers=headers).status_code == 204
    assert summary_status() == "completed"
    assert client.delete(f"/api/summaries/{versions[1]}", headers=headers).status_code == 204
    listed = client.get(f"/api/files/{file_uuid}/summaries", headers=headers).json()
    assert [(s["version"], s["bluf"]) for s in listed] == [(2, "version 2")]
    assert client.get(f"/api/summaries/{versions[1]}", headers=headers).status_code == 404
    assert client.delete(f"/api/summaries/{versions[1]}", headers=headers).status_code == 404

    with psycopg.connect(fresh_url, autocommit=True) as conn:
        conn.execute("UPDATE file_summaries SET status = 'processing' WHERE uuid = %s", [versions[2]])
    busy = client.delete(f"/api/summaries/{versions[2]}", headers=headers)
    assert (busy.status_code, busy.json()["field"]) == (409, "status")
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        conn.execute("UPDATE file_summaries SET status = 'failed' WHERE uuid = %s", [versions[2]])
    assert client.delete(f"/api/summaries/{versions[2]}", headers=headers).status_code == 204
    assert summary_status() is None
    assert client.get(f"/api/files/{file_uuid}/summaries", headers=headers).json() == []


def test_the_language_defaults_to_the_transcripts_and_a_chosen_one_is_kept(client: Any, fresh_url: str) -> None:
    headers = register(client)
    file_uuid = new_file(client, fresh_url, headers)
    new_config(client, headers)
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        conn.execute("UPDATE media_files SET language = 'de' WHERE uuid = %s", (file_uuid,))
    default = client.post(f"/api/files/{file_uuid}/summaries", headers=headers, json={}).json()
    chosen = client.post(f"/api/files/{file_uuid}/summaries", headers=headers, json={"language": "ar"}).json()
    assert (default["language"], chosen["language"]) == ("de", "ar")
    assert default["output_format"] == "bluf" and default["content"] is None and default["markdown"] is None
    listed = client.get(f"/api/files/{file_uuid}/summaries", headers=headers).json()
    assert [s["language"] for s in listed] == ["ar", "de"]


def test_a_pending_summary_is_cancelled_at_once_then_409_and_its_costs_are_listed(client: Any, fresh_url: str) -> None:
    headers = register(client)
    file_uuid = new_file(client, fresh_url, headers)
    new_config(client, headers)
    summary = client.post(f"/api/files/{file_uuid}/summaries", headers=headers, json={}).json()
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        LlmUsageRepository(conn).record(
            actor_of(client, fresh_url, headers).id, "summary", UUID(summary["uuid"]), "ollama", "m", 812, 143, 950
        )

    cancelled = client.post(f"/api/summaries/{summary['uuid']}/cancel", headers=headers)
    assert cancelled.status_code == 200, cancelled.text
    assert (cancelled.json()["status"], cancelled.json()["cancel_requested"]) == ("cancelled", True)
    again = client.post(f"/api/summaries/{summary['uuid']}/cancel", headers=headers)
    assert again.status_code == 409 and again.json()["field"] == "status"
    assert "has ended (cancelled)" in again.json()["detail"]
    assert client.get(f"/api/files/{file_uuid}", headers=headers).json()["summary_status"] == "cancelled"

    detail = client.get(f"/api/summaries/{summary['uuid']}", headers=headers).json()
    assert detail["status"] == "cancelled"
    assert [(c["input_tokens"], c["output_tokens"], c["reported"], c["latency_ms"]) for c in detail["costs"]] == [
        (812, 143, True, 950)
    ]
    stranger = register(client, email="stranger@example.com")
    assert client.post(f"/api/summaries/{summary['uuid']}/cancel", headers=stranger).status_code == 404
