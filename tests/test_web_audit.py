"""The audit trail is written wherever the platform does something it lists: each action leaves exactly one row,
with who (the actor's id and e-mail), what, which object, and from where (the client's address), in the request's
transaction, so a refused or failed action leaves no success row. The API and the pages share the function that
writes it; one page path of each kind is checked to write the same row."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from config.settings import Settings
from repo.rows import Actor
from tests import factories
from tests.sharing_pages import become, join
from tests.web import a_file, actor_of, make_admin, register, signed_in

ADDRESS = "203.0.113.7"


@pytest.fixture
def client(app_settings: Settings) -> Iterator[Any]:
    """The app seen from a real client address (TestClient's default, `testclient`, is stored as NULL), with
    generous public-link limits (counted per address in the shared Redis)."""
    from starlette.testclient import TestClient

    from web.app import create_app

    settings = app_settings.model_copy(
        update={"opentr_public_link_rate_per_address": 10_000, "opentr_public_link_rate_per_link": 10_000}
    )
    with TestClient(create_app(settings), client=(ADDRESS, 4321)) as test_client:
        yield test_client


def trail(conninfo: str, prefix: str) -> list[dict[str, Any]]:
    """The rows whose action starts with `prefix`, oldest first (read as the tables' owner)."""
    with psycopg.connect(conninfo) as conn:
        cur = conn.execute(
            "SELECT actor_id, actor_email, action, outcome, object_type, object_id, host(address) AS address, details "
            "FROM audit_log WHERE starts_with(action, %s) ORDER BY id",
            [prefix],
        )
        names = [c.name for c in cur.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def email_of(client: Any, headers: dict[str, str]) -> str:
    return str(client.get("/api/users/me", headers=headers).json()["email"])


def stored_file(client: Any, conninfo: str, owner: Actor, data: bytes = b"RIFF-fake-audio" * 100) -> str:
    """A completed file of `owner` with media on disk and a one-segment transcript."""
    storage_path = f"{owner.id}/{secrets.token_hex(8)}.wav"
    file_uuid = a_file(
        conninfo,
        owner,
        title="会議 اجتماع 🎙️",
        status="completed",
        storage_path=storage_path,
        content_type="audio/wav",
        file_size=len(data),
        duration=2.0,
    )
    target = client.app.state.services.storage_dir / storage_path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute("SELECT id FROM media_files WHERE uuid = %s", [file_uuid]).fetchone()
        assert row is not None
        factories.segments(conn, row[0], ["=cmd|' /C calc'!A0 says hello"])
    return file_uuid


def test_sharing_changing_and_revoking_each_leave_one_row_and_a_refusal_no_success(client: Any, fresh_url: str) -> None:
    owner, owner_actor = signed_in(client, fresh_url)
    bea = register(client, "بيا@example.com")
    file_uuid = a_file(fresh_url, owner_actor)

    shared = client.post(
        f"/api/files/{file_uuid}/shares", headers=owner, json={"user_email": "بيا@example.com", "role": "viewer"}
    )
    assert shared.status_code == 200, shared.text
    share = shared.json()["uuid"]
    (row,) = trail(fresh_url, "share.")
    assert row == {
        "actor_id": owner_actor.id,
        "actor_email": email_of(client, owner),
        "action": "share.create",
        "outcome": "success",
        "object_type": "file",
        "object_id": file_uuid,
        "address": ADDRESS,
        "details": {"user_email": "بيا@example.com", "role": "viewer", "share": share},
    }

    again = client.post(
        f"/api/files/{file_uuid}/shares", headers=owner, json={"user_email": "بيا@example.com", "role": "editor"}
    )
    assert again.status_code == 200 and again.json()["created"] is False
    assert client.delete(f"/api/files/{file_uuid}/shares/{share}", headers=owner).status_code == 204
    rows = trail(fresh_url, "share.")
    assert [(r["action"], r["details"].get("role")) for r in rows] == [
        ("share.create", "viewer"),
        ("share.update", "editor"),
        ("share.delete", None),
    ]
    assert rows[2]["details"] == {"share": share} and rows[2]["object_id"] == file_uuid

    # Bea may not share the owner's file: 403, no success row; the refusal is on the trail, by her
    client.post(
        f"/api/files/{file_uuid}/shares", headers=owner, json={"user_email": "بيا@example.com", "role": "editor"}
    )
    refused = client.post(
        f"/api/files/{file_uuid}/shares", headers=bea, json={"user_email": email_of(client, owner), "role": "viewer"}
    )
    assert refused.status_code == 403
    bea_id = actor_of(client, fresh_url, bea).id
    by_bea = [r for r in trail(fresh_url, "share.") if r["actor_id"] == bea_id]
    assert [(r["action"], r["outcome"]) for r in by_bea] == [("share.create", "refused")]
    # a share naming nobody (409) leaves nothing
    before = len(trail(fresh_url, "share."))
    nobody = client.post(
        f"/api/files/{file_uuid}/shares", headers=owner, json={"user_email": "nobody@example.com", "role": "viewer"}
    )
    assert nobody.status_code == 409
    assert len(trail(fresh_url, "share.")) == before


def test_the_sharing_page_writes_the_same_row_as_the_api(client: Any, fresh_url: str) -> None:
    ann = join(client, fresh_url, "山田 花子", "ann@example.com")
    join(client, fresh_url, "Zoë 🎧", "zoe@example.com")
    file_uuid = a_file(fresh_url, ann.actor)
    token = become(client, ann)
    done = client.post(
        f"/files/{file_uuid}/shares",
        data={"csrf": token, "email": "zoe@example.com", "role": "commenter"},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    (row,) = trail(fresh_url, "share.")
    share = row["details"]["share"]
    assert row == {
        "actor_id": ann.actor.id,
        "actor_email": "ann@example.com",
        "action": "share.create",
        "outcome": "success",
        "object_type": "file",
        "object_id": file_uuid,
        "address": ADDRESS,
        "details": {"user_email": "zoe@example.com", "role": "commenter", "share": share},
    }
    revoked = client.post(
        f"/files/{file_uuid}/shares/{share}", data={"csrf": token, "action": "revoke"}, follow_redirects=False
    )
    assert revoked.status_code == 303
    assert [r["action"] for r in trail(fresh_url, "share.")] == ["share.create", "share.delete"]


def test_public_links_are_recorded_made_revoked_and_once_per_visit(client: Any, fresh_url: str) -> None:
    owner, actor = signed_in(client, fresh_url)
    file_uuid = stored_file(client, fresh_url, actor)
    made = client.post(f"/api/files/{file_uuid}/links", headers=owner, json={"expires_in_days": 3})
    assert made.status_code == 201
    link, token = made.json()["uuid"], made.json()["token"]
    (created,) = trail(fresh_url, "public_link.")
    assert (created["action"], created["actor_id"], created["object_type"], created["object_id"]) == (
        "public_link.create",
        actor.id,
        "public_link",
        link,
    )
    assert created["details"]["file"] == file_uuid and token not in str(created["details"])

    # a visit: the page (one row), the player's requests (only the one from the first byte), an export, the JSON
    assert client.get(f"/p/{token}", headers={"user-agent": "Tablet/1.0 (Fuchs)"}).status_code == 200
    assert client.get(f"/p/{token}/media", headers={"range": "bytes=0-"}).status_code == 206
    for ranged in ("bytes=100-199", "bytes=200-299", "bytes=300-"):
        assert client.get(f"/p/{token}/media", headers={"range": ranged}).status_code == 206
    assert client.get(f"/p/{token}/export/srt").status_code == 200
    assert client.get(f"/api/public/{token}").status_code == 200
    uses = [r for r in trail(fresh_url, "public_link.use")]
    assert [r["details"]["use"] for r in uses] == ["page", "media", "export.srt", "json"]
    for use in uses:
        assert (use["actor_id"], use["actor_email"], use["object_id"], use["address"]) == (None, None, link, ADDRESS)
        assert use["details"]["file"] == file_uuid
    assert uses[0]["details"]["user_agent"] == "Tablet/1.0 (Fuchs)"

    assert client.delete(f"/api/files/{file_uuid}/links/{link}", headers=owner).status_code == 204
    assert client.get(f"/p/{token}").status_code == 410  # a dead link is no use
    assert [r["action"] for r in trail(fresh_url, "public_link.")][-2:] == ["public_link.use", "public_link.revoke"]
    assert len(trail(fresh_url, "public_link.use")) == 4


def test_exports_and_media_downloads_are_recorded_but_not_each_range_of_the_player(client: Any, fresh_url: str) -> None:
    owner, actor = signed_in(client, fresh_url)
    file_uuid = stored_file(client, fresh_url, actor)
    second = stored_file(client, fresh_url, actor)
    assert client.get(f"/api/files/{file_uuid}/export", params={"format": "vtt"}, headers=owner).status_code == 200
    (row,) = trail(fresh_url, "export.")
    assert (row["action"], row["actor_id"], row["object_type"], row["object_id"], row["address"]) == (
        "export.transcript",
        actor.id,
        "file",
        file_uuid,
        ADDRESS,
    )
    assert row["details"] == {"format": "vtt", "comments": False}

    assert client.get(f"/api/files/{file_uuid}/content", headers=owner).status_code == 200  # the download link
    assert client.get(f"/api/files/{file_uuid}/content", headers={**owner, "range": "bytes=10-20"}).status_code == 206
    media = trail(fresh_url, "export.media")
    assert [(r["object_id"], r["details"]) for r in media] == [(file_uuid, {})]

    zipped = client.post("/api/files/export", headers=owner, json={"file_uuids": [file_uuid, second], "format": "txt"})
    assert zipped.status_code == 200
    archived = [r for r in trail(fresh_url, "export.transcript") if r["details"].get("archive")]
    assert sorted(r["object_id"] for r in archived) == sorted([file_uuid, second])
    # an export of a file one cannot see: 404, nothing recorded
    stranger = register(client)
    assert client.get(f"/api/files/{file_uuid}/export", headers=stranger).status_code == 404
    assert len(trail(fresh_url, "export.")) == 4


def test_deleting_files_one_or_in_bulk_is_recorded_per_file(client: Any, fresh_url: str) -> None:
    owner, actor = signed_in(client, fresh_url)
    viewer = register(client, "viewer@example.com")
    one, two, three = (a_file(fresh_url, actor) for _ in range(3))
    assert client.delete(f"/api/files/{one}", headers=owner).status_code == 204
    (row,) = trail(fresh_url, "file.delete")
    assert (row["actor_id"], row["object_id"], row["outcome"], row["address"]) == (actor.id, one, "success", ADDRESS)

    client.post(
        f"/api/files/{three}/shares", headers=owner, json={"user_email": "viewer@example.com", "role": "viewer"}
    )
    by_viewer = client.post("/api/files/bulk", headers=viewer, json={"action": "delete", "file_uuids": [three]})
    assert by_viewer.json()["counts"] == {"forbidden": 1}
    bulk = client.post("/api/files/bulk", headers=owner, json={"action": "delete", "file_uuids": [two, three]})
    assert bulk.json()["counts"] == {"done": 2}
    rows = trail(fresh_url, "file.delete")[1:]
    viewer_id = actor_of(client, fresh_url, viewer).id
    assert [(r["actor_id"], r["object_id"], r["outcome"], r["details"]) for r in rows] == [
        (viewer_id, three, "refused", {"bulk": True}),
        (actor.id, two, "success", {"bulk": True}),
        (actor.id, three, "success", {"bulk": True}),
    ]
    # a file that is not there: 404, nothing recorded
    assert client.delete(f"/api/files/{one}", headers=owner).status_code == 404
    assert len(trail(fresh_url, "file.delete")) == 4


def test_admin_actions_and_the_all_files_view_are_recorded(client: Any, fresh_url: str) -> None:
    admin = register(client, "admin@example.com")
    make_admin(fresh_url, admin, client)
    admin_id = actor_of(client, fresh_url, admin).id
    carol = register(client, "كارول@example.com")
    carol_uuid = client.get("/api/users/me", headers=carol).json()["uuid"]

    changed = client.put(
        f"/api/admin/users/{carol_uuid}",
        headers=admin,
        json={"role": "admin", "is_active": False, "password": "a brand new secret"},
    )
    assert changed.status_code == 200, changed.text
    (row,) = trail(fresh_url, "admin.user_update")
    assert (row["actor_id"], row["actor_email"], row["object_type"], row["object_id"]) == (
        admin_id,
        "admin@example.com",
        "user",
        carol_uuid,
    )
    assert row["details"] == {
        "email": "كارول@example.com",
        "role": "admin",
        "is_active": False,
        "password_reset": True,
    }
    assert "a brand new secret" not in str(trail(fresh_url, ""))

    # the all-files view: one row per request, however often the request acts in it
    assert client.get("/api/files", params={"view": "all"}, headers=admin).status_code == 200
    assert client.get("/api/admin/files", headers=admin).status_code == 200
    views = trail(fresh_url, "admin.all_files_view")
    assert [(r["actor_id"], r["object_id"], r["address"]) for r in views] == [
        (admin_id, "/api/files", ADDRESS),
        (admin_id, "/api/admin/files", ADDRESS),
    ]
    assert client.get("/api/files", params={"view": "all"}, headers=carol).status_code == 401  # deactivated
    # a non-admin's view=all grants nothing and records nothing
    dan = register(client)
    assert client.get("/api/files", params={"view": "all"}, headers=dan).status_code == 200
    assert len(trail(fresh_url, "admin.all_files_view")) == 2

    assert client.delete(f"/api/admin/users/{carol_uuid}", headers=admin).status_code == 204
    (deleted,) = trail(fresh_url, "admin.user_delete")
    assert (deleted["object_id"], deleted["details"]) == (carol_uuid, {"email": "كارول@example.com"})
    assert client.delete(f"/api/admin/users/{carol_uuid}", headers=admin).status_code == 404
    assert len(trail(fresh_url, "admin.user_delete")) == 1


def test_the_admin_page_writes_the_same_row_as_the_api(client: Any, fresh_url: str) -> None:
    boss = join(client, fresh_url, "Boss", "boss@example.com")
    pat = join(client, fresh_url, "Pat", "pat@example.com")
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        conn.execute("UPDATE users SET role = 'admin' WHERE id = %s", [boss.actor.id])
        row = conn.execute("SELECT uuid FROM users WHERE id = %s", [pat.actor.id]).fetchone()
    assert row is not None
    token = become(client, boss)
    done = client.post(
        f"/admin/users/{row[0]}",
        data={"csrf": token, "role": "user", "full_name": "Pat Ü", "is_active": "on", "password": ""},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    (audit,) = trail(fresh_url, "admin.user_update")
    assert (audit["actor_id"], audit["object_id"], audit["address"]) == (boss.actor.id, str(row[0]), ADDRESS)
    assert audit["details"] == {"email": "pat@example.com", "role": "user", "full_name": "Pat Ü", "is_active": True}


def test_settings_llm_configurations_prompts_and_group_members_are_recorded(client: Any, fresh_url: str) -> None:
    me, actor = signed_in(client, fresh_url)
    assert client.put("/api/settings", headers=me, json={"ui.theme": "dark"}).status_code == 200
    (row,) = trail(fresh_url, "settings.")
    assert (row["actor_id"], row["object_type"], row["details"]) == (
        actor.id,
        "settings",
        {"keys": ["ui.theme"], "values": {"ui.theme": "dark"}},
    )
    assert client.delete("/api/settings/ui.theme", headers=me).status_code == 200
    assert trail(fresh_url, "settings.")[1]["details"]["reset"] is True
    refused = client.put("/api/settings", headers=me, json={"ui.theme": "neon"})
    assert refused.status_code == 422 and len(trail(fresh_url, "settings.")) == 2

    made = client.post(
        "/api/llm-configs",
        headers=me,
        json={"name": "ローカル", "provider": "openai", "model_name": "m", "api_key": "sk-very-secret"},
    )
    assert made.status_code == 201, made.text
    config = made.json()["uuid"]
    assert client.put(f"/api/llm-configs/{config}", headers=me, json={"api_key": "sk-other"}).status_code == 200
    assert client.delete(f"/api/llm-configs/{config}", headers=me).status_code == 204
    rows = trail(fresh_url, "llm_config.")
    assert [(r["action"], r["object_id"]) for r in rows] == [
        ("llm_config.create", config),
        ("llm_config.update", config),
        ("llm_config.delete", config),
    ]
    assert rows[1]["details"] == {"fields": [], "api_key_changed": True}
    # written in the request's transaction: an update of no such configuration (404) rolls its row back
    missing = client.put(f"/api/llm-configs/{secrets.token_hex(16)}", headers=me, json={"name": "x"})
    assert missing.status_code == 404 and len(trail(fresh_url, "llm_config.")) == 3
    assert "sk-" not in str(rows)

    prompt = client.post(
        "/api/prompts",
        headers=me,
        json={"name": "要約 ✍️", "prompt_text": "Summarise {transcript}", "content_type": "general"},
    )
    assert prompt.status_code == 201, prompt.text
    (made_prompt,) = trail(fresh_url, "prompt.")
    assert (made_prompt["action"], made_prompt["object_id"], made_prompt["details"]["name"]) == (
        "prompt.create",
        prompt.json()["uuid"],
        "要約 ✍️",
    )

    group = client.post("/api/groups", headers=me, json={"name": "فريق"}).json()["uuid"]
    friend = register(client, "friend@example.com")
    friend_uuid = client.get("/api/users/me", headers=friend).json()["uuid"]
    added = client.post(f"/api/groups/{group}/members", headers=me, json={"email": "friend@example.com"})
    assert added.status_code == 201, added.text
    member = f"/api/groups/{group}/members/{friend_uuid}"
    assert client.put(member, headers=me, json={"role": "owner"}).status_code == 200
    assert client.delete(member, headers=me).status_code == 204
    members = trail(fresh_url, "group.")
    assert [(r["action"], r["object_id"], r["details"]["member"]) for r in members] == [
        ("group.member_add", group, friend_uuid),
        ("group.member_update", group, friend_uuid),
        ("group.member_remove", group, friend_uuid),
    ]
    assert members[1]["details"]["role"] == "owner"
