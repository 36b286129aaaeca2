from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest

from repo.comments import MAX_TEXT_LENGTH
from tests.web import a_file, signed_in


def test_comment_edit_and_delete(client: Any, fresh_url: str) -> None:
    alice, alice_actor = signed_in(client, fresh_url)
    file_uuid = a_file(fresh_url, alice_actor)
    me = client.get("/api/users/me", headers=alice).json()

    created = client.post(
        f"/api/files/{file_uuid}/comments", headers=alice, json={"text": "  the key point  ", "timestamp": 12.5}
    )
    assert created.status_code == 201, created.text
    comment = created.json()
    assert comment["text"] == "the key point" and comment["timestamp"] == 12.5
    assert comment["file_uuid"] == file_uuid and comment["author_uuid"] == me["uuid"] and comment["author_name"] == "T"
    assert "id" not in comment and "user_id" not in comment
    plain = client.post(f"/api/files/{file_uuid}/comments", headers=alice, json={"text": "no time"})
    assert plain.status_code == 201 and plain.json()["timestamp"] is None

    listed = client.get(f"/api/files/{file_uuid}/comments", headers=alice)
    assert listed.status_code == 200
    assert [c["uuid"] for c in listed.json()] == [comment["uuid"], plain.json()["uuid"]]

    edited = client.put(f"/api/comments/{comment['uuid']}", headers=alice, json={"text": "a better point"})
    assert edited.status_code == 200 and edited.json()["text"] == "a better point"
    assert edited.json()["timestamp"] == 12.5
    assert client.get(f"/api/files/{file_uuid}/comments", headers=alice).json()[0]["text"] == "a better point"

    assert client.delete(f"/api/comments/{comment['uuid']}", headers=alice).status_code == 204
    remaining = client.get(f"/api/files/{file_uuid}/comments", headers=alice).json()
    assert [c["uuid"] for c in remaining] == [plain.json()["uuid"]]
    assert client.delete(f"/api/comments/{comment['uuid']}", headers=alice).status_code == 404


def test_a_file_without_comments_lists_none(client: Any, fresh_url: str) -> None:
    alice, alice_actor = signed_in(client, fresh_url)
    file_uuid = a_file(fresh_url, alice_actor)
    listed = client.get(f"/api/files/{file_uuid}/comments", headers=alice)
    assert listed.status_code == 200 and listed.json() == []
    assert client.get(f"/api/files/{uuid4()}/comments", headers=alice).status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"/api/files/{uuid4()}/comments"),
        ("POST", f"/api/files/{uuid4()}/comments"),
        ("PUT", f"/api/comments/{uuid4()}"),
        ("DELETE", f"/api/comments/{uuid4()}"),
    ],
)
def test_every_route_needs_a_token(client: Any, method: str, path: str) -> None:
    assert client.request(method, path, json={"text": "hi"}).status_code == 401


def test_another_users_file_and_comment_are_not_found(client: Any, fresh_url: str) -> None:
    alice, alice_actor = signed_in(client, fresh_url)
    bob, _ = signed_in(client, fresh_url)
    file_uuid = a_file(fresh_url, alice_actor)
    comment = client.post(f"/api/files/{file_uuid}/comments", headers=alice, json={"text": "mine"}).json()

    assert client.get(f"/api/files/{file_uuid}/comments", headers=bob).status_code == 404
    assert client.post(f"/api/files/{file_uuid}/comments", headers=bob, json={"text": "hi"}).status_code == 404
    assert client.put(f"/api/comments/{comment['uuid']}", headers=bob, json={"text": "edited"}).status_code == 404
    assert client.delete(f"/api/comments/{comment['uuid']}", headers=bob).status_code == 404
    assert client.get(f"/api/files/{file_uuid}/comments", headers=alice).json() == [comment]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "text"),
        ({"text": "   "}, "text"),
        ({"text": "x" * 10_001}, "text"),
        ({"text": "hi", "timestamp": -1}, "timestamp"),
        ({"text": "hi", "timestamp": "soon"}, "timestamp"),
        ({"text": "hi", "author": "someone else"}, "author"),
    ],
)
def test_bad_comment_bodies_name_the_field(client: Any, fresh_url: str, body: dict[str, Any], field: str) -> None:
    alice, alice_actor = signed_in(client, fresh_url)
    file_uuid = a_file(fresh_url, alice_actor)
    response = client.post(f"/api/files/{file_uuid}/comments", headers=alice, json=body)
    assert response.status_code == 422 and response.json()["field"] == field
    assert client.get(f"/api/files/{file_uuid}/comments", headers=alice).json() == []


def test_infinite_timestamp_and_bad_edits_name_the_field(client: Any, fresh_url: str) -> None:
    alice, alice_actor = signed_in(client, fresh_url)
    file_uuid = a_file(fresh_url, alice_actor)
    infinite = client.post(
        f"/api/files/{file_uuid}/comments",
        headers={**alice, "content-type": "application/json"},
        content=b'{"text": "hi", "timestamp": Infinity}',
    )
    assert infinite.status_code == 422 and infinite.json()["field"] == "timestamp"

    comment = client.post(f"/api/files/{file_uuid}/comments", headers=alice, json={"text": "hi"}).json()
    blank = client.put(f"/api/comments/{comment['uuid']}", headers=alice, json={"text": ""})
    moved = client.put(f"/api/comments/{comment['uuid']}", headers=alice, json={"text": "x", "timestamp": 3})
    assert blank.status_code == 422 and blank.json()["field"] == "text"
    assert moved.status_code == 422 and moved.json()["field"] == "timestamp"
    assert client.get(f"/api/files/{file_uuid}/comments", headers=alice).json()[0]["text"] == "hi"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/files/nope/comments"),
        ("POST", "/api/files/nope/comments"),
        ("PUT", "/api/comments/nope"),
        ("DELETE", "/api/comments/nope"),
    ],
)
def test_bad_uuid_in_the_path_names_the_field(client: Any, fresh_url: str, method: str, path: str) -> None:
    alice, _ = signed_in(client, fresh_url)
    response = client.request(method, path, headers=alice, json={"text": "hi"})
    assert 400 <= response.status_code < 500 and response.json()["field"] == "uuid"


def test_a_comment_is_measured_as_sent_then_trimmed(client: Any, fresh_url: str) -> None:
    """The document's maxLength counts what the client sends: a tab before the longest text is one character too
    many (it was stripped first and accepted); white space only is refused; the ends are trimmed, the inside kept."""
    alice, alice_actor = signed_in(client, fresh_url)
    file_uuid = a_file(fresh_url, alice_actor)
    route = f"/api/files/{file_uuid}/comments"
    longest = "会" * MAX_TEXT_LENGTH
    too_long = client.post(route, headers=alice, json={"text": "\t" + longest})
    assert too_long.status_code == 422 and too_long.json()["field"] == "text", too_long.text
    blank = client.post(route, headers=alice, json={"text": "\u3000\t "})
    assert blank.status_code == 422 and blank.json()["field"] == "text", blank.text
    assert client.get(route, headers=alice).json() == []
    fits = client.post(route, headers=alice, json={"text": longest})
    assert fits.status_code == 201 and fits.json()["text"] == longest
    kept = client.post(route, headers=alice, json={"text": "\u2003 مرحبا  😀 Grüße\n"})
    assert kept.status_code == 201 and kept.json()["text"] == "مرحبا  😀 Grüße"
