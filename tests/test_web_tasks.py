"""/api/tasks through HTTP: the signed-in user's tasks, paged newest first, and one task by its job id."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from repo.rows import Actor
from tests import factories
from tests.web import actor_of, register


def add_tasks(fresh_url: str, actor: Actor, statuses: list[str], *, prefix: str = "job") -> str:
    """Tasks job-0, job-1 ... one second apart (job-0 oldest) on a new file; returns the file's uuid."""
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        file_id, file_uuid = factories.media_file(conn, actor)
        for i, status in enumerate(statuses):
            conn.execute(
                "INSERT INTO tasks (id, user_id, media_file_id, task_type, status, created_at)"
                " VALUES (%s, %s, %s, 'transcription', %s, now() - make_interval(secs => %s))",
                (f"{prefix}-{i}", actor.id, file_id, status, len(statuses) - i),
            )
    return str(file_uuid)


def test_list_pages_newest_first_and_filters_by_status(client: Any, fresh_url: str) -> None:
    headers = register(client)
    add_tasks(fresh_url, actor_of(client, fresh_url, headers), ["completed", "failed", "pending", "completed"])
    first = client.get("/api/tasks", headers=headers, params={"limit": 3})
    assert first.status_code == 200
    assert [t["task_id"] for t in first.json()["items"]] == ["job-3", "job-2", "job-1"]
    assert "id" not in first.json()["items"][0] and "user_id" not in first.json()["items"][0]
    cursor = first.json()["next_cursor"]
    rest = client.get("/api/tasks", headers=headers, params={"limit": 3, "cursor": cursor}).json()
    assert [t["task_id"] for t in rest["items"]] == ["job-0"] and rest["next_cursor"] is None
    completed = client.get("/api/tasks", headers=headers, params={"status": "completed"}).json()
    assert [t["task_id"] for t in completed["items"]] == ["job-3", "job-0"]


def test_one_task_by_its_job_id(client: Any, fresh_url: str) -> None:
    headers = register(client)
    file_uuid = add_tasks(fresh_url, actor_of(client, fresh_url, headers), ["pending"], prefix="summary:with.dots")
    response = client.get("/api/tasks/summary:with.dots-0", headers=headers)
    assert response.status_code == 200
    task = response.json()
    assert task["task_id"] == "summary:with.dots-0" and task["file_uuid"] == file_uuid
    assert task["task_type"] == "transcription" and task["status"] == "pending" and task["progress"] == 0
    assert {"id", "user_id", "media_file_id"}.isdisjoint(task)
    assert client.get("/api/tasks/no-such-job", headers=headers).status_code == 404


def test_another_users_task_is_not_found(client: Any, fresh_url: str) -> None:
    owner, stranger = register(client), register(client)
    add_tasks(fresh_url, actor_of(client, fresh_url, owner), ["in_progress"])
    assert client.get("/api/tasks/job-0", headers=stranger).status_code == 404
    assert client.get("/api/tasks", headers=stranger).json() == {"items": [], "next_cursor": None}
    assert client.get("/api/tasks/job-0", headers=owner).status_code == 200


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/tasks", {"status": "running"}, "status"),
        ("/api/tasks", {"limit": "0"}, "limit"),
        ("/api/tasks", {"limit": "ten"}, "limit"),
        ("/api/tasks", {"cursor": "not-a-cursor"}, "cursor"),
        ("/api/tasks", {"cursor": "x" * 1025}, "cursor"),
        ("/api/tasks", {"page": "2"}, "page"),
        ("/api/tasks/" + "j" * 201, None, "id"),
    ],
)
def test_malformed_input_names_the_field(client: Any, path: str, params: dict[str, str] | None, field: str) -> None:
    headers = register(client)
    response = client.get(path, headers=headers, params=params)
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["field"] == field


@pytest.mark.parametrize("path", ["/api/tasks", "/api/tasks/job-0"])
def test_every_route_needs_a_token(client: Any, path: str) -> None:
    assert client.get(path).status_code == 401
