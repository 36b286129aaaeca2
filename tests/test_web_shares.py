from __future__ import annotations

from typing import Any
from uuid import uuid4

import psycopg

from tests import factories
from tests.web import actor_of, register


def named(client: Any, name: str) -> tuple[dict[str, str], dict[str, Any]]:
    headers = register(client)
    assert client.put("/api/users/me", headers=headers, json={"full_name": name}).status_code == 200
    found: dict[str, Any] = client.get("/api/users/me", headers=headers).json()
    return headers, found


def a_file(client: Any, url: str, headers: dict[str, str], filename: str) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        _, file_uuid = factories.media_file(conn, actor_of(client, url, headers), filename=filename)
    return str(file_uuid)


def shares_in(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT uuid, role, user_id, group_id, media_file_id FROM shares ORDER BY id").fetchall()


def shared_notes(client: Any, headers: dict[str, str]) -> list[dict[str, Any]]:
    items = client.get("/api/notifications", headers=headers).json()["items"]
    return [item for item in items if item["kind"] == "shared"]


def test_share_a_file_change_the_role_revoke(client: Any, fresh_url: str) -> None:
    aiko, _ = named(client, "Aiko")
    omar, omar_me = named(client, "Jürgen Ölfass")
    file_uuid = a_file(client, fresh_url, aiko, "会議.wav")

    shared = client.post(
        f"/api/files/{file_uuid}/shares", headers=aiko, json={"user_email": omar_me["email"], "role": "viewer"}
    )
    assert shared.status_code == 200, shared.text
    share = shared.json()
    assert share["created"] is True and share["role"] == "viewer" and share["group"] is None
    assert share["user"] == {"uuid": omar_me["uuid"], "full_name": "Jürgen Ölfass", "email": omar_me["email"]}
    assert share["shared_by_name"] == "Aiko" and share["inherited"] is False

    [note] = shared_notes(client, omar)
    assert note["title"] == "Aiko shared 会議.wav with you" and note["file_uuid"] == file_uuid
    assert note["data"]["url"] == f"/files/{file_uuid}" and note["data"]["object_kind"] == "file"
    [mine] = client.get("/api/shared-with-me", headers=omar).json()
    assert (mine["object_uuid"], mine["object_name"], mine["role"], mine["owner_name"]) == (
        file_uuid,
        "会議.wav",
        "viewer",
        "Aiko",
    )

    upgraded = client.post(
        f"/api/files/{file_uuid}/shares", headers=aiko, json={"user_email": omar_me["email"], "role": "editor"}
    )
    assert upgraded.status_code == 200 and upgraded.json()["created"] is False
    assert upgraded.json()["uuid"] == share["uuid"] and upgraded.json()["role"] == "editor"
    assert len(shared_notes(client, omar)) == 1
    listed = client.get(f"/api/files/{file_uuid}/shares", headers=aiko).json()
    assert [(s["uuid"], s["role"]) for s in listed] == [(share["uuid"], "editor")]

    # the editor sees the file but may not reshare it, list its shares or revoke one
    _, lena_me = named(client, "Lena")
    reshare = {"user_email": lena_me["email"], "role": "viewer"}
    assert client.post(f"/api/files/{file_uuid}/shares", headers=omar, json=reshare).status_code == 403
    assert client.get(f"/api/files/{file_uuid}/shares", headers=omar).status_code == 403
    assert client.delete(f"/api/files/{file_uuid}/shares/{share['uuid']}", headers=omar).status_code == 403

    assert client.delete(f"/api/files/{file_uuid}/shares/{share['uuid']}", headers=aiko).status_code == 204
    again = client.delete(f"/api/files/{file_uuid}/shares/{share['uuid']}", headers=aiko)
    assert again.status_code == 404
    assert client.get("/api/shared-with-me", headers=omar).json() == []
    assert client.get(f"/api/files/{file_uuid}/shares", headers=omar).status_code == 404, "no access any more"


def test_bad_input_names_the_field_and_changes_nothing(client: Any, fresh_url: str) -> None:
    aiko, aiko_me = named(client, "Aiko")
    omar, omar_me = named(client, "Omar")
    file_uuid = a_file(client, fresh_url, aiko, "a.wav")
    others = client.post("/api/groups", headers=omar, json={"name": "Omar's"}).json()["uuid"]
    profile = client.post("/api/speaker-profiles", headers=aiko, json={"name": "Ansagerin"}).json()["uuid"]
    path = f"/api/files/{file_uuid}/shares"
    cases: list[tuple[str, dict[str, Any], int, str]] = [
        (path, {"user_email": "nobody@example.com", "role": "viewer"}, 409, "user_email"),
        (path, {"user_email": aiko_me["email"], "role": "viewer"}, 422, "user_email"),
        (path, {"user_email": omar_me["email"], "group_uuid": others, "role": "viewer"}, 422, "user_email"),
        (path, {"role": "viewer"}, 422, "user_email"),
        (path, {"user_email": None, "group_uuid": None, "role": "viewer"}, 422, "user_email"),
        (path, {"group_uuid": others, "role": "viewer"}, 409, "group_uuid"),
        (path, {"group_uuid": str(uuid4()), "role": "viewer"}, 409, "group_uuid"),
        (path, {"user_email": omar_me["email"], "role": "owner"}, 422, "role"),
        (path, {"user_email": omar_me["email"]}, 422, "role"),
        (path, {"user_email": "no at sign", "role": "viewer"}, 422, "user_email"),
        (path, {"group_uuid": "not-a-uuid", "role": "viewer"}, 422, "group_uuid"),
        (f"/api/speaker-profiles/{profile}/shares", {"user_email": omar_me["email"], "role": "commenter"}, 422, "role"),
        (f"/api/speaker-profiles/{profile}/shares", {"user_email": omar_me["email"], "role": "editor"}, 422, "role"),
    ]
    for where, body, status, field in cases:
        response = client.post(where, headers=aiko, json=body)
        assert (response.status_code, response.json()["field"]) == (status, field), (body, response.text)
    assert "no account with this address" in client.post(path, headers=aiko, json=cases[0][1]).json()["detail"]
    assert client.post(f"/api/files/{uuid4()}/shares", headers=aiko, json=cases[0][1]).status_code == 404
    assert client.post(path, headers=omar, json={"user_email": omar_me["email"], "role": "viewer"}).status_code == 404
    assert client.delete(f"{path}/{uuid4()}", headers=aiko).status_code == 404
    assert shares_in(fresh_url) == []
    assert shared_notes(client, omar) == []


def test_a_group_share_notifies_its_members_and_leaving_ends_it(client: Any, fresh_url: str) -> None:
    aiko, _ = named(client, "アイコ")
    omar, omar_me = named(client, "عمر")
    lena, lena_me = named(client, "Lena 🎻")
    group = client.post("/api/groups", headers=aiko, json={"name": "Équipe"}).json()["uuid"]
    for member in (omar_me, lena_me):
        added = client.post(f"/api/groups/{group}/members", headers=aiko, json={"email": member["email"]})
        assert added.status_code == 201
    collection = client.post("/api/collections", headers=aiko, json={"name": "Vorträge"}).json()["uuid"]
    file_uuid = a_file(client, fresh_url, aiko, "talk.wav")
    client.post(f"/api/collections/{collection}/files", headers=aiko, json={"file_uuids": [file_uuid]})

    shared = client.post(
        f"/api/collections/{collection}/shares", headers=aiko, json={"group_uuid": group, "role": "commenter"}
    )
    assert shared.status_code == 200, shared.text
    assert shared.json()["group"] == {"uuid": group, "name": "Équipe"} and shared.json()["user"] is None
    for member in (omar, lena):
        [note] = shared_notes(client, member)
        assert note["title"] == "アイコ shared Vorträge with you"
        assert note["data"] == {
            "object_kind": "collection",
            "object_uuid": collection,
            "role": "commenter",
            "url": f"/?collection={collection}",
        }
        [mine] = client.get("/api/shared-with-me", headers=member).json()
        assert (mine["object_kind"], mine["via_group_name"]) == ("collection", "Équipe")
    assert shared_notes(client, aiko) == []
    inherited = client.get(f"/api/files/{file_uuid}/shares", headers=aiko).json()
    assert [(s["inherited"], s["via_collection_name"], s["role"]) for s in inherited] == [
        (True, "Vorträge", "commenter")
    ]

    assert client.delete(f"/api/groups/{group}/members/{lena_me['uuid']}", headers=lena).status_code == 204
    assert client.get("/api/shared-with-me", headers=lena).json() == []
    assert len(client.get("/api/shared-with-me", headers=omar).json()) == 1


def test_a_speaker_profile_is_shared_with_a_group(client: Any) -> None:
    aiko, _ = named(client, "Aiko")
    omar, omar_me = named(client, "Omar")
    group = client.post("/api/groups", headers=aiko, json={"name": "Team"}).json()["uuid"]
    client.post(f"/api/groups/{group}/members", headers=aiko, json={"email": omar_me["email"]})
    profile = client.post("/api/speaker-profiles", headers=aiko, json={"name": "Sprecher Ä"}).json()["uuid"]
    path = f"/api/speaker-profiles/{profile}/shares"
    shared = client.post(path, headers=aiko, json={"group_uuid": group, "role": "viewer"})
    assert shared.status_code == 200, shared.text
    [mine] = client.get("/api/shared-with-me", headers=omar).json()
    assert (mine["object_kind"], mine["object_name"]) == ("speaker_profile", "Sprecher Ä")
    assert [p["name"] for p in client.get("/api/speaker-profiles", headers=omar).json()] == ["Sprecher Ä"]
    assert client.get(f"/api/speaker-profiles/{profile}", headers=omar).status_code == 200
    renamed = client.put(f"/api/speaker-profiles/{profile}", headers=omar, json={"name": "Mine"})
    assert renamed.status_code in (403, 404), "a viewer does not change it"
    assert client.get(path, headers=omar).status_code == 403
    assert client.delete(f"{path}/{shared.json()['uuid']}", headers=aiko).status_code == 204
    assert client.get(path, headers=aiko).json() == []


def test_the_library_shows_shared_files_with_their_owner_and_my_role(client: Any, fresh_url: str) -> None:
    aiko, _ = named(client, "Müller-Lüdenscheidt")
    omar, omar_me = named(client, "عمر")
    theirs = a_file(client, fresh_url, aiko, "Besprechung.wav")
    own = a_file(client, fresh_url, omar, "mine.wav")
    group = client.post("/api/groups", headers=aiko, json={"name": "Team"}).json()["uuid"]
    client.post(f"/api/groups/{group}/members", headers=aiko, json={"email": omar_me["email"]})
    client.post(f"/api/files/{theirs}/shares", headers=aiko, json={"group_uuid": group, "role": "commenter"})

    def library(**params: str) -> list[tuple[str, str, str]]:
        page = client.get("/api/files", headers=omar, params=params)
        assert page.status_code == 200, page.text
        return [(item["uuid"], item["owner_name"], item["my_role"]) for item in page.json()["items"]]

    assert sorted(library()) == sorted([(theirs, "Müller-Lüdenscheidt", "commenter"), (own, "عمر", "owner")])
    assert library(shared="me") == [(theirs, "Müller-Lüdenscheidt", "commenter")]
    assert library(shared="mine") == [(own, "عمر", "owner")]
    refused = client.get("/api/files", headers=omar, params={"shared": "everyone"})
    assert refused.status_code == 422 and refused.json()["field"] == "shared"
    assert client.get(f"/api/files/{theirs}", headers=omar).status_code == 200

    # leaving the group ends the access: the file is gone from the library and from its page
    assert client.delete(f"/api/groups/{group}/members/{omar_me['uuid']}", headers=omar).status_code == 204
    assert library(shared="me") == []
    assert client.get(f"/api/files/{theirs}", headers=omar).status_code == 404


def test_the_notifications_page_links_to_what_was_shared(client: Any, fresh_url: str) -> None:
    aiko, _ = named(client, "Aiko")
    omar, omar_me = named(client, "Omar")
    collection = client.post("/api/collections", headers=aiko, json={"name": "Interviews 🎤"}).json()["uuid"]
    body = {"user_email": omar_me["email"], "role": "viewer"}
    assert client.post(f"/api/collections/{collection}/shares", headers=aiko, json=body).status_code == 200
    page = client.get("/notifications", headers=omar)
    assert page.status_code == 200
    assert "Aiko shared Interviews 🎤 with you" in page.text
    assert f'href="/?collection={collection}"' in page.text
