from __future__ import annotations

from typing import Any
from urllib.parse import quote
from uuid import uuid4

import pytest

from tests.web import a_file, make_admin, signed_in


def test_tag_a_file_count_it_and_detach_it(client: Any, fresh_url: str) -> None:
    alice, alice_actor = signed_in(client, fresh_url)
    bob, _ = signed_in(client, fresh_url)
    file_uuid = a_file(fresh_url, alice_actor)
    name = "Rock & Roll é #1? 100%"  # spaces, unicode and characters that URLs must encode

    attached = client.post(f"/api/files/{file_uuid}/tags", headers=alice, json={"name": f"  {name}  "})
    assert attached.status_code == 201, attached.text
    (tag,) = attached.json()
    assert tag["name"] == name and set(tag) == {"uuid", "name", "created_at"}
    second = client.post(f"/api/files/{file_uuid}/tags", headers=alice, json={"name": "zulu"})
    assert [t["name"] for t in second.json()] == [name, "zulu"]

    listed = client.get("/api/tags", headers=alice)
    assert listed.status_code == 200
    assert listed.json() == [
        {"uuid": tag["uuid"], "name": name, "file_count": 1},
        {"uuid": second.json()[1]["uuid"], "name": "zulu", "file_count": 1},
    ]
    assert client.get("/api/tags", headers=bob).json() == [], "counts cover only the user's own files"

    detached = client.delete(f"/api/files/{file_uuid}/tags/{quote(name, safe='')}", headers=alice)
    assert detached.status_code == 204
    assert [t["name"] for t in client.get("/api/tags", headers=alice).json()] == ["zulu"]
    again = client.delete(f"/api/files/{file_uuid}/tags/{quote(name, safe='')}", headers=alice)
    assert again.status_code == 404


def test_create_tag_is_get_or_create(client: Any, fresh_url: str) -> None:
    alice, _ = signed_in(client, fresh_url)
    bob, _ = signed_in(client, fresh_url)
    first = client.post("/api/tags", headers=alice, json={"name": "meeting"})
    assert first.status_code == 201
    body = first.json()
    assert body["name"] == "meeting" and "id" not in body
    same = client.post("/api/tags", headers=bob, json={"name": " meeting "})
    assert same.status_code == 201 and same.json() == body
    assert client.get("/api/tags", headers=alice).json() == [], "a tag on no file of yours is not listed"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/tags"),
        ("POST", "/api/tags"),
        ("POST", f"/api/files/{uuid4()}/tags"),
        ("DELETE", f"/api/files/{uuid4()}/tags/meeting"),
    ],
)
def test_every_route_needs_a_token(client: Any, method: str, path: str) -> None:
    response = client.request(method, path, json={"name": "meeting"})
    assert response.status_code == 401


def test_another_users_file_is_not_found(client: Any, fresh_url: str) -> None:
    alice, alice_actor = signed_in(client, fresh_url)
    bob, _ = signed_in(client, fresh_url)
    file_uuid = a_file(fresh_url, alice_actor)
    assert client.post(f"/api/files/{file_uuid}/tags", headers=alice, json={"name": "mine"}).status_code == 201

    assert client.post(f"/api/files/{file_uuid}/tags", headers=bob, json={"name": "theirs"}).status_code == 404
    assert client.delete(f"/api/files/{file_uuid}/tags/mine", headers=bob).status_code == 404
    assert [t["name"] for t in client.get("/api/tags", headers=alice).json()] == ["mine"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "a/b"}, "name"),
        ({"name": 7}, "name"),
        ({"name": "ok", "color": "red"}, "color"),
    ],
)
def test_bad_tag_bodies_name_the_field(client: Any, fresh_url: str, body: dict[str, Any], field: str) -> None:
    alice, alice_actor = signed_in(client, fresh_url)
    file_uuid = a_file(fresh_url, alice_actor)
    for path in ("/api/tags", f"/api/files/{file_uuid}/tags"):
        response = client.post(path, headers=alice, json=body)
        assert response.status_code == 422, (path, response.text)
        assert response.json()["field"] == field
    assert client.get("/api/tags", headers=alice).json() == []


def test_bad_file_uuid_names_the_field(client: Any, fresh_url: str) -> None:
    alice, _ = signed_in(client, fresh_url)
    attached = client.post("/api/files/not-a-uuid/tags", headers=alice, json={"name": "x"})
    detached = client.delete("/api/files/not-a-uuid/tags/x", headers=alice)
    for response in (attached, detached):
        assert 400 <= response.status_code < 500 and response.json()["field"] == "uuid"


def test_unused_tags_are_listed_and_an_administrator_cleans_them_up(client: Any, fresh_url: str) -> None:
    headers, owner = signed_in(client, fresh_url)
    stranger, _ = signed_in(client, fresh_url)
    mine = a_file(fresh_url, owner)
    assert client.post(f"/api/files/{mine}/tags", headers=headers, json={"name": "kept"}).status_code == 201
    for name in ("spare", "also spare"):
        assert client.post("/api/tags", headers=stranger, json={"name": name}).status_code == 201
    detached = client.post(f"/api/files/{mine}/tags", headers=headers, json={"name": "detached"})
    assert detached.status_code == 201
    assert client.delete(f"/api/files/{mine}/tags/detached", headers=headers).status_code == 204

    unused = client.get("/api/tags", headers=headers, params={"unused": "true"})
    assert unused.status_code == 200
    assert [(t["name"], t["file_count"]) for t in unused.json()] == [("also spare", 0), ("detached", 0), ("spare", 0)]
    assert [t["name"] for t in client.get("/api/tags", headers=headers).json()] == ["kept"]

    assert client.delete("/api/admin/tags/unused", headers=headers).status_code == 403
    admin, _ = signed_in(client, fresh_url)
    make_admin(fresh_url, admin, client)
    cleaned = client.delete("/api/admin/tags/unused", headers=admin)
    assert cleaned.status_code == 200 and cleaned.json() == {"deleted": ["also spare", "detached", "spare"]}
    assert client.get("/api/tags", headers=headers, params={"unused": "true"}).json() == []
    assert client.get(f"/api/files/{mine}", headers=headers).json()["tags"] == ["kept"]
    assert client.delete("/api/admin/tags/unused", headers=admin).json() == {"deleted": []}
