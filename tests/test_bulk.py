"""Bulk actions: mixed own, foreign and missing uuids get an outcome each; the foreign files are never touched."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

from config.settings import Settings
from repo.rows import Actor
from tests import factories
from tests.web import signed_in

Conn = psycopg.Connection[Any]


def foreign_state(url: str, file_uuid: str) -> Any:
    """Everything about a file a bulk action could change: its row, tags, collections, tasks."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT to_jsonb(f) - 'updated_at', "
            "  (SELECT array_agg(t.name ORDER BY t.name) FROM file_tags ft JOIN tags t ON t.id = ft.tag_id "
            "   WHERE ft.media_file_id = f.id), "
            "  (SELECT count(*) FROM collection_members cm WHERE cm.media_file_id = f.id), "
            "  (SELECT count(*) FROM tasks WHERE media_file_id = f.id) "
            "FROM media_files f WHERE f.uuid = %s",
            [file_uuid],
        ).fetchone()
    assert row is not None
    return row


def arrange(client: Any, url: str, storage: Any) -> tuple[dict[str, str], Actor, list[str], str, str]:
    """The caller's files (one completed with stored media, one queued, one with the tag 'old'), a stranger's
    completed and tagged file, and a uuid nobody has."""
    headers, me = signed_in(client, url)
    _, stranger = signed_in(client, url)
    mine = []
    with psycopg.connect(url, autocommit=True) as conn:
        for status in ("completed", "queued", "error"):
            _, file_uuid = factories.media_file(conn, me, status=status, filename=f"{status}.wav")
            mine.append(str(file_uuid))
        _, theirs = factories.media_file(conn, stranger, status="completed")
        for file_uuid in (mine[2], theirs):
            conn.execute("INSERT INTO tags (name) VALUES ('old') ON CONFLICT (name) DO NOTHING")
            conn.execute(
                "INSERT INTO file_tags (media_file_id, tag_id) "
                "SELECT f.id, t.id FROM media_files f, tags t WHERE f.uuid = %s AND t.name = 'old'",
                [file_uuid],
            )
        paths = [r[0] for r in conn.execute("SELECT storage_path FROM media_files WHERE uuid = ANY(%s)", [mine])]
    for path in paths:
        (storage / path).parent.mkdir(parents=True, exist_ok=True)
        (storage / path).write_bytes(b"media")
    return headers, me, mine, str(theirs), str(uuid.uuid4())


def run(client: Any, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = client.post("/api/files/bulk", headers=headers, json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def outcomes(answer: dict[str, Any]) -> list[tuple[str, str]]:
    return [(r["uuid"], r["outcome"]) for r in answer["results"]]


@pytest.mark.parametrize("action", ["add_tag", "remove_tag", "add_to_collection", "reprocess", "delete"])
def test_each_action_reports_every_file_and_leaves_foreign_ones_untouched(
    client: Any, fresh_url: str, app_settings: Settings, action: str
) -> None:
    storage = app_settings.storage_dir
    headers, _, mine, theirs, nowhere = arrange(client, fresh_url, storage)
    before = foreign_state(fresh_url, theirs)
    body: dict[str, Any] = {"action": action, "file_uuids": [*mine, theirs, nowhere, mine[0]]}
    if action in ("add_tag", "remove_tag"):
        body["tag"] = "old"
    if action == "add_to_collection":
        created = client.post("/api/collections", headers=headers, json={"name": "picked"})
        body["collection_uuid"] = created.json()["uuid"]

    answer = run(client, headers, **body)
    expected_mine = {
        "add_tag": ["done", "done", "unchanged"],  # the third file was tagged 'old' already
        "remove_tag": ["unchanged", "unchanged", "done"],
        "add_to_collection": ["done", "done", "done"],
        "reprocess": ["done", "conflict", "done"],  # a queued file cannot be reprocessed
        "delete": ["done", "done", "done"],
    }[action]
    assert outcomes(answer) == [
        *zip(mine, expected_mine, strict=True),
        (theirs, "not_found"),
        (nowhere, "not_found"),
    ], "each file once, in request order"
    assert sum(answer["counts"].values()) == 5
    assert foreign_state(fresh_url, theirs) == before

    listed = client.get("/api/files", headers=headers).json()["items"]
    if action == "delete":
        assert listed == []
        assert [p for p in storage.rglob("*") if p.is_file()] == []
        assert outcomes(run(client, headers, **body))[:3] == [(u, "not_found") for u in mine]
    elif action == "reprocess":
        statuses = {item["uuid"]: item["status"] for item in listed}
        assert statuses == {mine[0]: "queued", mine[1]: "queued", mine[2]: "queued"}
        conflict = next(r for r in answer["results"] if r["outcome"] == "conflict")
        assert "queued" in conflict["detail"]
    elif action == "add_to_collection":
        members = client.get("/api/files", headers=headers, params={"collection": body["collection_uuid"]})
        assert sorted(item["uuid"] for item in members.json()["items"]) == sorted(mine)
    else:
        tagged = client.get("/api/files", headers=headers, params={"tag": "old"}).json()["items"]
        assert sorted(item["uuid"] for item in tagged) == (sorted(mine) if action == "add_tag" else [])


def test_bad_requests_are_refused_naming_the_field_and_change_nothing(
    client: Any, fresh_url: str, app_settings: Settings
) -> None:
    headers, _, mine, _, _ = arrange(client, fresh_url, app_settings.storage_dir)
    _, stranger = signed_in(client, fresh_url)
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO collections (user_id, name) VALUES (%s, 'theirs') RETURNING uuid", [stranger.id]
        ).fetchone()
    assert row is not None
    cases: list[tuple[dict[str, Any], int, str]] = [
        # a field the action needs (a rule the schema does not state), a body reference to nothing of yours: 409
        ({"action": "add_tag", "file_uuids": mine}, 409, "tag"),
        ({"action": "add_to_collection", "file_uuids": mine}, 409, "collection_uuid"),
        ({"action": "add_to_collection", "file_uuids": mine, "collection_uuid": str(row[0])}, 409, "collection_uuid"),
        ({"action": "delete", "file_uuids": []}, 422, "file_uuids"),
        ({"action": "delete", "file_uuids": [str(uuid.uuid4()) for _ in range(501)]}, 422, "file_uuids"),
        ({"action": "archive", "file_uuids": mine}, 422, "action"),
    ]
    for body, status, field in cases:
        response = client.post("/api/files/bulk", headers=headers, json=body)
        assert (response.status_code, response.json()["field"]) == (status, field), (body, response.text)
    assert len(client.get("/api/files", headers=headers).json()["items"]) == 3
    assert client.get("/api/collections", headers=headers).json() == []


def test_five_hundred_files_in_one_request(client: Any, fresh_url: str) -> None:
    headers, me = signed_in(client, fresh_url)
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        uuids = [str(factories.media_file(conn, me, filename=f"f{i}.wav")[1]) for i in range(500)]
    answer = run(client, headers, action="add_tag", file_uuids=uuids, tag="batch")
    assert answer["counts"] == {"done": 500}
    values = client.get("/api/files/filters", headers=headers).json()
    assert values["tags"] == [{"name": "batch", "file_count": 500}]


@pytest.mark.parametrize("action", ["add_tag", "remove_tag", "delete", "reprocess"])
def test_a_file_shared_to_view_is_forbidden_not_unknown_and_stays_untouched(
    client: Any, fresh_url: str, app_settings: Settings, action: str
) -> None:
    owner, owner_actor = signed_in(client, fresh_url)
    viewer, viewer_actor = signed_in(client, fresh_url)
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        _, shared = factories.media_file(conn, owner_actor, status="completed", filename="共有 مشترك 📼.wav")
        _, own = factories.media_file(conn, viewer_actor, status="completed", filename="eigene Größe.wav")
        _, unseen = factories.media_file(conn, owner_actor, status="completed", filename="privat.wav")
    email = client.get("/api/users/me", headers=viewer).json()["email"]
    share = client.post(f"/api/files/{shared}/shares", headers=owner, json={"user_email": email, "role": "viewer"})
    assert share.status_code in (200, 201), share.text
    before = foreign_state(fresh_url, str(shared))
    body: dict[str, Any] = {"action": action, "file_uuids": [str(shared), str(own), str(unseen)]}
    if action in ("add_tag", "remove_tag"):
        body["tag"] = "Überprüft ✅"

    answer = run(client, viewer, **body)

    assert outcomes(answer)[0] == (str(shared), "forbidden")
    assert outcomes(answer)[2] == (str(unseen), "not_found")  # its existence is not told
    assert answer["forbidden"] == [str(shared)]
    assert answer["counts"]["forbidden"] == 1
    assert answer["results"][0]["detail"]
    assert foreign_state(fresh_url, str(shared)) == before
