"""/api/notifications through HTTP: pages, unread counts, marking read, and per-kind preferences."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from repo.notifications import KINDS
from repo.rows import Actor
from tests import factories
from tests.web import actor_of, register


def notify(fresh_url: str, actor: Actor, count: int, *, media_file_id: int | None = None) -> None:
    """`count` notifications titled n0, n1 ... one second apart (n0 oldest)."""
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        for i in range(count):
            conn.execute(
                "INSERT INTO notifications (user_id, kind, title, message, data, media_file_id, created_at)"
                " VALUES (%s, 'processing', %s, 'msg', '{\"step\": 1}', %s, now() - make_interval(secs => %s))",
                (actor.id, f"n{i}", media_file_id, count - i),
            )


def test_pages_newest_first_with_the_unread_count(client: Any, fresh_url: str) -> None:
    headers = register(client)
    actor = actor_of(client, fresh_url, headers)
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        file_id, file_uuid = factories.media_file(conn, actor)
    notify(fresh_url, actor, 5, media_file_id=file_id)
    first = client.get("/api/notifications", headers=headers, params={"limit": 2})
    assert first.status_code == 200
    page = first.json()
    assert [n["title"] for n in page["items"]] == ["n4", "n3"] and page["unread_count"] == 5
    item = page["items"][0]
    assert item["file_uuid"] == str(file_uuid) and item["data"] == {"step": 1} and item["read_at"] is None
    assert {"id", "user_id", "media_file_id"}.isdisjoint(item)
    second = client.get("/api/notifications", headers=headers, params={"limit": 2, "cursor": page["next_cursor"]})
    third = client.get(
        "/api/notifications", headers=headers, params={"limit": 2, "cursor": second.json()["next_cursor"]}
    )
    assert [n["title"] for n in second.json()["items"]] == ["n2", "n1"]
    assert [n["title"] for n in third.json()["items"]] == ["n0"] and third.json()["next_cursor"] is None


def test_marking_some_then_all_read(client: Any, fresh_url: str) -> None:
    headers = register(client)
    notify(fresh_url, actor_of(client, fresh_url, headers), 3)
    items = client.get("/api/notifications", headers=headers).json()["items"]
    marked = client.post("/api/notifications/read", headers=headers, json={"uuids": [items[0]["uuid"]]})
    assert marked.status_code == 200 and marked.json() == {"marked": 1}
    assert client.post("/api/notifications/read", headers=headers, json={"uuids": [items[0]["uuid"]]}).json() == {
        "marked": 0
    }
    unread = client.get("/api/notifications", headers=headers, params={"unread_only": "true"}).json()
    assert [n["uuid"] for n in unread["items"]] == [items[1]["uuid"], items[2]["uuid"]] and unread["unread_count"] == 2
    assert client.post("/api/notifications/read", headers=headers, json={}).json() == {"marked": 2}
    after = client.get("/api/notifications", headers=headers).json()
    assert after["unread_count"] == 0 and all(n["read_at"] for n in after["items"])


def test_preferences_default_on_and_change_per_kind(client: Any) -> None:
    headers = register(client)
    defaults = client.get("/api/notifications/preferences", headers=headers)
    assert defaults.status_code == 200 and defaults.json() == dict.fromkeys(KINDS, True)
    changed = client.put("/api/notifications/preferences", headers=headers, json={"summary": False, "speakers": False})
    assert changed.status_code == 200
    assert changed.json() == {**dict.fromkeys(KINDS, True), "summary": False, "speakers": False}
    assert sorted(KINDS) == ["error", "shared", "speakers", "summary", "system", "transcription"], "outcomes, not steps"
    gone = client.put("/api/notifications/preferences", headers=headers, json={"processing": False})
    assert gone.status_code == 422 and gone.json()["field"] == "processing", "steps are no notification any more"
    again = client.put("/api/notifications/preferences", headers=headers, json={"speakers": True})
    assert again.json()["speakers"] is True and again.json()["summary"] is False
    assert client.get("/api/notifications/preferences", headers=headers).json() == again.json()


def test_each_user_sees_and_marks_only_their_own(client: Any, fresh_url: str) -> None:
    owner, stranger = register(client), register(client)
    notify(fresh_url, actor_of(client, fresh_url, owner), 2)
    uuids = [n["uuid"] for n in client.get("/api/notifications", headers=owner).json()["items"]]
    theirs = client.get("/api/notifications", headers=stranger).json()
    assert theirs == {"items": [], "next_cursor": None, "unread_count": 0}
    assert client.post("/api/notifications/read", headers=stranger, json={"uuids": uuids}).json() == {"marked": 0}
    assert client.post("/api/notifications/read", headers=stranger, json={}).json() == {"marked": 0}
    foreign_cursor = client.get("/api/notifications", headers=stranger, params={"cursor": uuids[0]}).json()
    assert foreign_cursor["items"] == []
    client.put("/api/notifications/preferences", headers=stranger, json={"transcription": False})
    assert client.get("/api/notifications/preferences", headers=owner).json()["transcription"] is True
    assert client.get("/api/notifications", headers=owner).json()["unread_count"] == 2


@pytest.mark.parametrize(
    ("method", "path", "params", "body", "field"),
    [
        ("GET", "/api/notifications", {"limit": "0"}, None, "limit"),
        ("GET", "/api/notifications", {"limit": "201"}, None, "limit"),
        ("GET", "/api/notifications", {"cursor": "not-a-uuid"}, None, "cursor"),
        ("GET", "/api/notifications", {"unread_only": "maybe"}, None, "unread_only"),
        ("GET", "/api/notifications", {"sort": "asc"}, None, "sort"),
        ("POST", "/api/notifications/read", None, {"uuids": ["x"]}, "uuids.0"),
        ("POST", "/api/notifications/read", None, {"uuids": "all"}, "uuids"),
        ("POST", "/api/notifications/read", None, {"all": True}, "all"),
        ("PUT", "/api/notifications/preferences", None, {"gossip": True}, "gossip"),
        ("PUT", "/api/notifications/preferences", None, {"summary": "off"}, "summary"),
        ("PUT", "/api/notifications/preferences", None, [True], "body"),
    ],
)
def test_malformed_input_names_the_field(
    client: Any, method: str, path: str, params: dict[str, str] | None, body: Any, field: str
) -> None:
    headers = register(client)
    response = client.request(method, path, headers=headers, params=params, json=body)
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["field"] == field


def test_a_refused_preference_change_changes_nothing(client: Any) -> None:
    headers = register(client)
    response = client.put("/api/notifications/preferences", headers=headers, json={"summary": False, "gossip": True})
    assert response.status_code == 422
    assert client.get("/api/notifications/preferences", headers=headers).json()["summary"] is True


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/notifications"),
        ("POST", "/api/notifications/read"),
        ("GET", "/api/notifications/preferences"),
        ("PUT", "/api/notifications/preferences"),
    ],
)
def test_every_route_needs_a_token(client: Any, method: str, path: str) -> None:
    assert client.request(method, path, json={}).status_code == 401


def test_a_missing_body_marks_nothing_read(client: Any, fresh_url: str) -> None:
    headers = register(client)
    notify(fresh_url, actor_of(client, fresh_url, headers), 2)
    response = client.post("/api/notifications/read", headers=headers)
    assert response.status_code == 422 and response.json()["field"] == "body"
    assert client.get("/api/notifications", headers=headers).json()["unread_count"] == 2


def test_unread_only_takes_true_false_1_0_and_nothing_else(client: Any, fresh_url: str) -> None:
    headers = register(client)
    for value in ("true", "false", "1", "0"):
        assert client.get("/api/notifications", headers=headers, params={"unread_only": value}).status_code == 200
    for value in ("yes", "on", "2"):
        response = client.get("/api/notifications", headers=headers, params={"unread_only": value})
        assert response.status_code == 422 and response.json()["field"] == "unread_only", value
