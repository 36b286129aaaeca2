"""Access decided in one place: what each role on a shared file may do through the API (repo/access.py tells 404
from 403), what a share through a group or a collection covers, and an admin's explicit all-files view.

Shares, groups and collections are inserted directly (the sharing routes are another module's): the rule under test
is the fragments' and shared_files()', whatever wrote the rows."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from tests import factories
from tests.test_web_files import upload, wav_bytes
from tests.web import actor_of, make_admin, register, sign_up

TITLE = "会議の記録 🎧 اجتماع"
SEGMENT_TEXT = "Der Haushalt für Überstunden wurde besprochen"


@dataclass
class World:
    conninfo: str
    file: str  # the owner's uploaded file, shared in every way below
    segment: str
    speaker: str
    collection_id: int
    group_id: int
    headers: dict[str, dict[str, str]]  # by role name


def _sql(conninfo: str, statement: str, params: dict[str, Any]) -> Any:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        cur = conn.execute(statement, params)
        return cur.fetchone() if cur.description else None


def _named(client: Any, conninfo: str, name: str) -> dict[str, str]:
    headers = register(client)
    actor = actor_of(client, conninfo, headers)
    _sql(conninfo, "UPDATE users SET full_name = %(n)s WHERE id = %(u)s", {"n": name, "u": actor.id})
    return headers


def _id(client: Any, conninfo: str, headers: dict[str, str]) -> int:
    return actor_of(client, conninfo, headers).id


@pytest.fixture
def world(client: Any, fresh_url: str) -> World:
    names = {
        "owner": "山田 太郎",
        "editor": "فاطمة الزهراء",
        "commenter": "Jürgen Müller",
        "viewer": "🎙️ Pat",
        "group_viewer": "佐藤 花子",
        "collection_viewer": "عمر",
        "stranger": "Zoë 🦊",
        "admin": "管理者",
    }
    headers = {role: _named(client, fresh_url, name) for role, name in names.items()}
    make_admin(fresh_url, headers["admin"], client)
    created = upload(client, headers["owner"], title=TITLE)
    assert created.status_code == 201, created.text
    file_uuid = created.json()["uuid"]
    owner = actor_of(client, fresh_url, headers["owner"])
    ids = {role: _id(client, fresh_url, h) for role, h in headers.items()}
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        (file_id,) = conn.execute("SELECT id FROM media_files WHERE uuid = %s", [file_uuid]).fetchone() or (0,)
        speaker_id = factories.speaker(conn, owner, file_id)
        factories.segments(conn, file_id, [SEGMENT_TEXT], speaker_id)
        segment = conn.execute("SELECT uuid FROM transcript_segments WHERE media_file_id = %s", [file_id]).fetchone()
        speaker = conn.execute("SELECT uuid FROM speakers WHERE id = %s", [speaker_id]).fetchone()
        for role in ("editor", "commenter", "viewer"):
            conn.execute(
                "INSERT INTO shares (media_file_id, user_id, role, shared_by) VALUES (%s, %s, %s, %s)",
                [file_id, ids[role], role, owner.id],
            )
        (group_id,) = conn.execute(
            "INSERT INTO groups (name, created_by) VALUES ('編集チーム ✨', %s) RETURNING id", [owner.id]
        ).fetchone() or (0,)
        conn.execute(
            "INSERT INTO group_members (group_id, user_id, role) VALUES (%s, %s, 'owner')", [group_id, owner.id]
        )
        conn.execute("INSERT INTO group_members (group_id, user_id) VALUES (%s, %s)", [group_id, ids["group_viewer"]])
        conn.execute(
            "INSERT INTO shares (media_file_id, group_id, role, shared_by) VALUES (%s, %s, 'viewer', %s)",
            [file_id, group_id, owner.id],
        )
        (collection_id,) = conn.execute(
            "INSERT INTO collections (user_id, name) VALUES (%s, 'مجموعة 📁') RETURNING id", [owner.id]
        ).fetchone() or (0,)
        conn.execute(
            "INSERT INTO collection_members (collection_id, media_file_id) VALUES (%s, %s)", [collection_id, file_id]
        )
        conn.execute(
            "INSERT INTO shares (collection_id, user_id, role, shared_by) VALUES (%s, %s, 'viewer', %s)",
            [collection_id, ids["collection_viewer"], owner.id],
        )
    assert segment is not None and speaker is not None
    return World(fresh_url, file_uuid, str(segment[0]), str(speaker[0]), collection_id, group_id, headers)


def _reads(client: Any, w: World, headers: dict[str, str]) -> dict[str, int]:
    """The status of each reading route for these credentials."""
    f = w.file
    return {
        "detail": client.get(f"/api/files/{f}", headers=headers).status_code,
        "play": client.get(f"/api/files/{f}/content", headers=headers).status_code,
        "transcript": client.get(f"/api/files/{f}/transcript", headers=headers).status_code,
        "export": client.get(f"/api/files/{f}/export?format=txt", headers=headers).status_code,
        "speakers": client.get(f"/api/files/{f}/speakers", headers=headers).status_code,
        "comments": client.get(f"/api/files/{f}/comments", headers=headers).status_code,
    }


def _found_by_search(client: Any, w: World, headers: dict[str, str]) -> bool:
    found = client.get("/api/search", params={"q": "Haushalt"}, headers=headers)
    assert found.status_code == 200, found.text
    return w.file in [hit["file_uuid"] for hit in found.json()]


def _in_library(client: Any, w: World, headers: dict[str, str]) -> bool:
    listed = client.get("/api/files", headers=headers)
    assert listed.status_code == 200, listed.text
    return w.file in [item["uuid"] for item in listed.json()["items"]]


def _edits(client: Any, w: World, headers: dict[str, str]) -> dict[str, int]:
    """The status of each editing route (none of them succeeds for a reader, so the order does not matter)."""
    f = w.file
    return {
        "title": client.put(f"/api/files/{f}", json={"title": "改題 ✏️"}, headers=headers).status_code,
        "segment": client.put(
            f"/api/files/{f}/transcript/segments/{w.segment}", json={"text": "تعديل"}, headers=headers
        ).status_code,
        "speaker": client.put(
            f"/api/speakers/{w.speaker}", json={"display_name": "Ärztin"}, headers=headers
        ).status_code,
        "tag": client.post(f"/api/files/{f}/tags", json={"name": "wichtig"}, headers=headers).status_code,
        "cancel": client.post(f"/api/files/{f}/cancel", headers=headers).status_code,
    }


def test_viewers_read_play_export_and_search_but_may_not_edit_or_comment(client: Any, world: World) -> None:
    for role in ("viewer", "group_viewer", "collection_viewer"):
        headers = world.headers[role]
        assert set(_reads(client, world, headers).values()) == {200}, role
        assert _found_by_search(client, world, headers), role
        assert _in_library(client, world, headers), role
        assert set(_edits(client, world, headers).values()) == {403}, role
        comment = client.post(f"/api/files/{world.file}/comments", json={"text": "いいね"}, headers=headers)
        assert comment.status_code == 403, (role, comment.text)
        assert client.delete(f"/api/files/{world.file}", headers=headers).status_code == 403, role
    detail = client.get(f"/api/files/{world.file}", headers=world.headers["owner"]).json()
    assert detail["title"] == TITLE and detail["tags"] == [] and detail["comments_count"] == 0


def test_a_commenter_comments_but_may_not_edit(client: Any, world: World) -> None:
    headers, owner = world.headers["commenter"], world.headers["owner"]
    assert set(_reads(client, world, headers).values()) == {200}
    mine = client.post(
        f"/api/files/{world.file}/comments", json={"text": "مراجعة 👍", "timestamp": 0.5}, headers=headers
    )
    assert mine.status_code == 201, mine.text
    edited = client.put(f"/api/comments/{mine.json()['uuid']}", json={"text": "レビュー済み"}, headers=headers)
    assert edited.status_code == 200 and edited.json()["text"] == "レビュー済み"
    theirs = client.post(f"/api/files/{world.file}/comments", json={"text": "Danke schön"}, headers=owner).json()
    assert client.put(f"/api/comments/{theirs['uuid']}", json={"text": "x"}, headers=headers).status_code == 403
    assert client.delete(f"/api/comments/{theirs['uuid']}", headers=headers).status_code == 403
    assert set(_edits(client, world, headers).values()) == {403}
    # the owner may delete any comment on their file; a stranger is not told the comment exists
    assert client.delete(f"/api/comments/{mine.json()['uuid']}", headers=world.headers["stranger"]).status_code == 404
    assert client.delete(f"/api/comments/{mine.json()['uuid']}", headers=owner).status_code == 204
    assert [c["text"] for c in client.get(f"/api/files/{world.file}/comments", headers=headers).json()] == [
        "Danke schön"
    ]


def test_an_editor_edits_and_re_runs_but_may_not_delete(client: Any, world: World) -> None:
    headers = world.headers["editor"]
    f = world.file
    assert client.put(f"/api/files/{f}", json={"title": "改題 ✏️"}, headers=headers).json()["title"] == "改題 ✏️"
    segment = client.put(f"/api/files/{f}/transcript/segments/{world.segment}", json={"text": "تعديل"}, headers=headers)
    assert segment.status_code == 200 and segment.json()["text"] == "تعديل"
    speaker = client.put(f"/api/speakers/{world.speaker}", json={"display_name": "Ärztin"}, headers=headers)
    assert speaker.status_code == 200 and speaker.json()["display_name"] == "Ärztin"
    assert client.post(f"/api/files/{f}/tags", json={"name": "wichtig"}, headers=headers).status_code == 201
    assert client.delete(f"/api/files/{f}/tags/wichtig", headers=headers).status_code == 204
    assert client.post(f"/api/files/{f}/cancel", headers=headers).json()["status"] == "cancelled"
    assert client.post(f"/api/files/{f}/retry", headers=headers).status_code == 200
    assert client.post(f"/api/files/{f}/comments", json={"text": "✅"}, headers=headers).status_code == 201
    refused = client.delete(f"/api/files/{f}", headers=headers)
    assert refused.status_code == 403, refused.text
    assert client.get(f"/api/files/{f}", headers=world.headers["owner"]).json()["title"] == "改題 ✏️"
    # the owner still deletes it
    assert client.delete(f"/api/files/{f}", headers=world.headers["owner"]).status_code == 204
    assert client.get(f"/api/files/{f}", headers=headers).status_code == 404


def test_an_editor_gets_412_for_a_stale_title_not_403(client: Any, world: World) -> None:
    f, headers = world.file, world.headers["editor"]
    etag = client.get(f"/api/files/{f}", headers=headers).headers["etag"]
    assert client.put(f"/api/files/{f}", json={"title": "一"}, headers=world.headers["owner"]).status_code == 200
    stale = client.put(f"/api/files/{f}", json={"title": "二"}, headers={**headers, "If-Match": etag})
    assert stale.status_code == 412, stale.text


def test_a_non_member_gets_404_everywhere(client: Any, world: World) -> None:
    headers = world.headers["stranger"]
    assert set(_reads(client, world, headers).values()) == {404}
    assert set(_edits(client, world, headers).values()) == {404}
    assert client.delete(f"/api/files/{world.file}", headers=headers).status_code == 404
    assert client.post(f"/api/files/{world.file}/comments", json={"text": "?"}, headers=headers).status_code == 404
    assert not _found_by_search(client, world, headers)
    assert not _in_library(client, world, headers)


def test_a_collection_share_covers_files_added_later(client: Any, world: World) -> None:
    later = upload(client, world.headers["owner"], wav_bytes(0.7), title="後で追加 🆕").json()["uuid"]
    headers = world.headers["collection_viewer"]
    assert client.get(f"/api/files/{later}", headers=headers).status_code == 404
    _sql(
        world.conninfo,
        "INSERT INTO collection_members (collection_id, media_file_id) "
        "SELECT %(c)s, id FROM media_files WHERE uuid = %(f)s",
        {"c": world.collection_id, "f": later},
    )
    assert client.get(f"/api/files/{later}", headers=headers).json()["title"] == "後で追加 🆕"
    shared = client.get("/api/collections", headers=headers).json()
    assert [c["name"] for c in shared] == ["مجموعة 📁"]
    members = client.get(f"/api/collections/{shared[0]['uuid']}/files", headers=headers).json()
    assert {m["file_uuid"] for m in members} == {world.file, later}
    renamed = client.put(f"/api/collections/{shared[0]['uuid']}", json={"name": "mine now"}, headers=headers)
    assert renamed.status_code == 403  # only its owner changes it
    assert client.delete(f"/api/collections/{shared[0]['uuid']}", headers=headers).status_code == 403


def test_a_group_share_stops_when_the_member_leaves(client: Any, world: World) -> None:
    headers = world.headers["group_viewer"]
    assert client.get(f"/api/files/{world.file}", headers=headers).status_code == 200
    member = actor_of(client, world.conninfo, headers)
    _sql(
        world.conninfo,
        "DELETE FROM group_members WHERE group_id = %(g)s AND user_id = %(u)s",
        {"g": world.group_id, "u": member.id},
    )
    assert client.get(f"/api/files/{world.file}", headers=headers).status_code == 404
    assert not _in_library(client, world, headers)
    assert not _found_by_search(client, world, headers)


def test_an_admin_sees_others_files_only_with_view_all_and_each_use_is_logged(
    client: Any, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    admin, f = world.headers["admin"], world.file
    with caplog.at_level(logging.WARNING, logger="opentr.audit"):
        assert client.get(f"/api/files/{f}", headers=admin).status_code == 404
        assert not _in_library(client, world, admin)
        assert not [r for r in caplog.records if r.name == "opentr.audit"]
        assert client.get(f"/api/files/{f}?view=all", headers=admin).json()["title"] == TITLE
        listed = client.get("/api/files", params={"view": "all"}, headers=admin)
        assert f in [item["uuid"] for item in listed.json()["items"]]
    email = client.get("/api/users/me", headers=admin).json()["email"]
    lines = [r.getMessage() for r in caplog.records if r.name == "opentr.audit"]
    assert lines == [
        f"admin all-files view: {email} GET /api/files/{f}",
        f"admin all-files view: {email} GET /api/files",
    ]
    # anyone else's view=all is ignored: it grants nothing; another value of `view` is refused, naming it
    stranger = world.headers["stranger"]
    assert client.get(f"/api/files/{f}?view=all", headers=stranger).status_code == 404
    refused = client.get(f"/api/files/{f}?view=everything", headers=admin)
    assert refused.status_code == 422 and refused.json()["field"] == "view"


def test_the_admin_files_list_names_every_owner(client: Any, world: World, caplog: pytest.LogCaptureFixture) -> None:
    owner_email = client.get("/api/users/me", headers=world.headers["owner"]).json()["email"]
    with caplog.at_level(logging.WARNING, logger="opentr.audit"):
        page = client.get("/api/admin/files", params={"limit": 1}, headers=world.headers["admin"])
    assert page.status_code == 200, page.text
    (item,) = page.json()["items"]
    assert (item["uuid"], item["owner_email"], item["owner_name"]) == (world.file, owner_email, "山田 太郎")
    assert any("admin all-files view" in r.getMessage() for r in caplog.records if r.name == "opentr.audit")
    assert client.get("/api/admin/files", headers=world.headers["owner"]).status_code == 403


def test_the_admin_library_links_to_all_files(client: Any, world: World) -> None:
    client.cookies.clear()
    email = "管理者@example.com"
    sign_up(client, email)
    _sql(world.conninfo, "UPDATE users SET role = 'admin' WHERE email = %(e)s", {"e": email})
    library = client.get("/")
    assert 'href="/admin/files"' in library.text and "All files" in library.text
    listing = client.get("/admin/files")
    assert listing.status_code == 200 and TITLE in listing.text and "山田 太郎" in listing.text
    # the file page: not found without the view, shown with it (the listing links there with ?view=all)
    assert f'href="/files/{world.file}?view=all"' in listing.text
    assert client.get(f"/files/{world.file}").status_code == 404
    page = client.get(f"/files/{world.file}?view=all")
    assert page.status_code == 200 and TITLE in page.text
