from __future__ import annotations

from typing import Any
from uuid import uuid4

import psycopg
import pytest

from repo.rows import Actor
from tests import factories
from tests.web import signed_in


def files(url: str, owner: Actor, count: int) -> list[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        return [str(factories.media_file(conn, owner, filename=f"f{i}.wav")[1]) for i in range(count)]


def test_collection_lifecycle(client: Any, fresh_url: str) -> None:
    alice, alice_actor = signed_in(client, fresh_url)
    first, second = files(fresh_url, alice_actor, 2)

    created = client.post("/api/collections", headers=alice, json={"name": " Interviews ", "description": "2024"})
    assert created.status_code == 201, created.text
    collection = created.json()
    assert collection["name"] == "Interviews" and collection["description"] == "2024"
    assert collection["file_count"] == 0 and "id" not in collection and "user_id" not in collection
    uuid = collection["uuid"]
    assert client.get("/api/collections", headers=alice).json() == [collection]
    assert client.get(f"/api/collections/{uuid}", headers=alice).json() == collection

    added = client.post(f"/api/collections/{uuid}/files", headers=alice, json={"file_uuids": [first, second, first]})
    assert added.status_code == 200 and added.json() == {"added": 2}
    again = client.post(f"/api/collections/{uuid}/files", headers=alice, json={"file_uuids": [second]})
    assert again.json() == {"added": 0}
    members = client.get(f"/api/collections/{uuid}/files", headers=alice)
    assert members.status_code == 200
    assert [(m["file_uuid"], m["filename"]) for m in members.json()] == [(first, "f0.wav"), (second, "f1.wav")]

    removed = client.post(
        f"/api/collections/{uuid}/files/remove", headers=alice, json={"file_uuids": [first, str(uuid4())]}
    )
    assert removed.status_code == 200 and removed.json() == {"removed": 1}
    assert [m["file_uuid"] for m in client.get(f"/api/collections/{uuid}/files", headers=alice).json()] == [second]

    renamed = client.put(f"/api/collections/{uuid}", headers=alice, json={"name": "Talks", "description": ""})
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Talks" and renamed.json()["description"] is None
    assert renamed.json()["file_count"] == 1
    kept = client.put(f"/api/collections/{uuid}", headers=alice, json={})
    assert kept.json()["name"] == "Talks"

    assert client.delete(f"/api/collections/{uuid}", headers=alice).status_code == 204
    assert client.get(f"/api/collections/{uuid}", headers=alice).status_code == 404
    assert client.get("/api/collections", headers=alice).json() == []


def test_names_are_unique_per_user(client: Any, fresh_url: str) -> None:
    alice, _ = signed_in(client, fresh_url)
    bob, _ = signed_in(client, fresh_url)
    assert client.post("/api/collections", headers=alice, json={"name": "Work"}).status_code == 201
    duplicate = client.post("/api/collections", headers=alice, json={"name": "Work"})
    assert duplicate.status_code == 409 and duplicate.json()["field"] == "name"
    other = client.post("/api/collections", headers=alice, json={"name": "Home"}).json()
    renamed = client.put(f"/api/collections/{other['uuid']}", headers=alice, json={"name": "Work"})
    assert renamed.status_code == 409 and renamed.json()["field"] == "name"
    assert client.post("/api/collections", headers=bob, json={"name": "Work"}).status_code == 201


def test_adding_a_file_that_is_not_yours_adds_nothing(client: Any, fresh_url: str) -> None:
    alice, alice_actor = signed_in(client, fresh_url)
    _, bob_actor = signed_in(client, fresh_url)
    (mine,) = files(fresh_url, alice_actor, 1)
    (theirs,) = files(fresh_url, bob_actor, 1)
    uuid = client.post("/api/collections", headers=alice, json={"name": "Mixed"}).json()["uuid"]
    refused = client.post(f"/api/collections/{uuid}/files", headers=alice, json={"file_uuids": [mine, theirs]})
    assert refused.status_code == 409 and refused.json()["field"] == "file_uuids"
    assert client.get(f"/api/collections/{uuid}/files", headers=alice).json() == []


ROUTES = [
    ("GET", "/api/collections/{uuid}"),
    ("PUT", "/api/collections/{uuid}"),
    ("DELETE", "/api/collections/{uuid}"),
    ("GET", "/api/collections/{uuid}/files"),
    ("POST", "/api/collections/{uuid}/files"),
    ("POST", "/api/collections/{uuid}/files/remove"),
]


@pytest.mark.parametrize(("method", "path"), [("GET", "/api/collections"), ("POST", "/api/collections"), *ROUTES])
def test_every_route_needs_a_token(client: Any, method: str, path: str) -> None:
    body = {"name": "x", "file_uuids": [str(uuid4())]}
    assert client.request(method, path.format(uuid=uuid4()), json=body).status_code == 401


def test_another_users_collection_is_not_found(client: Any, fresh_url: str) -> None:
    alice, alice_actor = signed_in(client, fresh_url)
    bob, bob_actor = signed_in(client, fresh_url)
    (mine,) = files(fresh_url, alice_actor, 1)
    (theirs,) = files(fresh_url, bob_actor, 1)
    collection = client.post("/api/collections", headers=alice, json={"name": "Private"}).json()
    client.post(f"/api/collections/{collection['uuid']}/files", headers=alice, json={"file_uuids": [mine]})

    for method, path in ROUTES:
        body = {"file_uuids": [theirs]} if "files" in path and method == "POST" else {"name": "stolen"}
        response = client.request(method, path.format(uuid=collection["uuid"]), headers=bob, json=body)
        assert response.status_code == 404, (method, path, response.text)
    assert client.get("/api/collections", headers=bob).json() == []
    after = client.get(f"/api/collections/{collection['uuid']}", headers=alice).json()
    assert after["name"] == "Private" and after["file_count"] == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": "  "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "ok", "description": 5}, "description"),
        ({"name": "ok", "owner": "me"}, "owner"),
    ],
)
def test_bad_collection_bodies_name_the_field(client: Any, fresh_url: str, body: dict[str, Any], field: str) -> None:
    alice, _ = signed_in(client, fresh_url)
    response = client.post("/api/collections", headers=alice, json=body)
    assert response.status_code == 422 and response.json()["field"] == field
    if "name" in body:
        uuid = client.post("/api/collections", headers=alice, json={"name": "Fine"}).json()["uuid"]
        edited = client.put(f"/api/collections/{uuid}", headers=alice, json=body)
        assert edited.status_code == 422 and edited.json()["field"] == field
        assert client.get(f"/api/collections/{uuid}", headers=alice).json()["name"] == "Fine"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "file_uuids"),
        ({"file_uuids": []}, "file_uuids"),
        ({"file_uuids": [str(uuid4()) for _ in range(1001)]}, "file_uuids"),
        ({"file_uuids": ["not-a-uuid"]}, "file_uuids.0"),
        ({"file_uuids": "x"}, "file_uuids"),
        ({"file_uuids": [str(uuid4())], "all": True}, "all"),
    ],
)
def test_bad_file_lists_name_the_field(client: Any, fresh_url: str, body: dict[str, Any], field: str) -> None:
    alice, _ = signed_in(client, fresh_url)
    uuid = client.post("/api/collections", headers=alice, json={"name": "Fine"}).json()["uuid"]
    for path in (f"/api/collections/{uuid}/files", f"/api/collections/{uuid}/files/remove"):
        response = client.post(path, headers=alice, json=body)
        assert response.status_code == 422 and response.json()["field"] == field, (path, response.text)


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_bad_uuid_in_the_path_names_the_field(client: Any, fresh_url: str, method: str, path: str) -> None:
    alice, _ = signed_in(client, fresh_url)
    body = {"file_uuids": [str(uuid4())]} if "files" in path and method == "POST" else {"name": "x"}
    response = client.request(method, path.format(uuid="nope"), headers=alice, json=body)
    assert 400 <= response.status_code < 500 and response.json()["field"] == "uuid"
