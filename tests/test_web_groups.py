from __future__ import annotations

from typing import Any
from uuid import uuid4

from tests.web import make_admin, register


def me(client: Any, headers: dict[str, str]) -> dict[str, Any]:
    found: dict[str, Any] = client.get("/api/users/me", headers=headers).json()
    return found


def named(client: Any, name: str) -> tuple[dict[str, str], dict[str, Any]]:
    headers = register(client)
    assert client.put("/api/users/me", headers=headers, json={"full_name": name}).status_code == 200
    return headers, me(client, headers)


def test_a_group_from_creation_to_deletion(client: Any) -> None:
    aiko, aiko_me = named(client, "山田 愛子")
    omar, omar_me = named(client, "عمر 🎙️")
    created = client.post("/api/groups", headers=aiko, json={"name": " Rédaction Zürich ", "description": "Ü"})
    assert created.status_code == 201, created.text
    group = created.json()
    assert (group["name"], group["my_role"], group["member_count"]) == ("Rédaction Zürich", "owner", 1)
    uuid = group["uuid"]

    added = client.post(f"/api/groups/{uuid}/members", headers=aiko, json={"email": omar_me["email"]})
    assert added.status_code == 201, added.text
    assert (added.json()["full_name"], added.json()["role"]) == ("عمر 🎙️", "member")
    seen = client.get(f"/api/groups/{uuid}", headers=omar)
    assert seen.status_code == 200
    assert [(m["full_name"], m["email"], m["role"]) for m in seen.json()["members"]] == [
        ("山田 愛子", aiko_me["email"], "owner"),
        ("عمر 🎙️", omar_me["email"], "member"),
    ]
    assert [g["uuid"] for g in client.get("/api/groups", headers=omar).json()] == [uuid]

    renamed = client.put(f"/api/groups/{uuid}", headers=aiko, json={"name": "Team 🎧"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Team 🎧"
    promoted = client.put(f"/api/groups/{uuid}/members/{omar_me['uuid']}", headers=aiko, json={"role": "owner"})
    assert promoted.status_code == 200 and promoted.json()["role"] == "owner"
    assert client.delete(f"/api/groups/{uuid}/members/{aiko_me['uuid']}", headers=aiko).status_code == 204
    assert client.get(f"/api/groups/{uuid}", headers=aiko).status_code == 404, "Aiko left"
    assert client.delete(f"/api/groups/{uuid}", headers=omar).status_code == 204
    assert client.get(f"/api/groups/{uuid}", headers=omar).status_code == 404
    assert client.get("/api/groups", headers=omar).json() == []


def test_refusals_name_the_field_and_change_nothing(client: Any) -> None:
    aiko, aiko_me = named(client, "Aiko")
    omar, omar_me = named(client, "Omar")
    stranger, _ = named(client, "Stranger")
    uuid = client.post("/api/groups", headers=aiko, json={"name": "Team"}).json()["uuid"]
    client.post(f"/api/groups/{uuid}/members", headers=aiko, json={"email": omar_me["email"], "role": "member"})
    before = client.get(f"/api/groups/{uuid}", headers=aiko).json()

    cases: list[tuple[str, str, dict[str, str], Any, int, str | None]] = [
        ("POST", f"/api/groups/{uuid}/members", aiko, {"email": "nobody@example.com"}, 409, "email"),
        ("POST", f"/api/groups/{uuid}/members", aiko, {"email": "not an address"}, 422, "email"),
        ("POST", f"/api/groups/{uuid}/members", aiko, {"email": omar_me["email"], "role": "boss"}, 422, "role"),
        ("PUT", f"/api/groups/{uuid}/members/{aiko_me['uuid']}", aiko, {"role": "member"}, 409, "role"),
        ("DELETE", f"/api/groups/{uuid}/members/{aiko_me['uuid']}", aiko, None, 409, "user_uuid"),
        ("PUT", f"/api/groups/{uuid}", aiko, {"name": "   "}, 422, "name"),
        ("PUT", f"/api/groups/{uuid}", aiko, {"name": "x" * 201}, 422, "name"),
        ("PUT", f"/api/groups/{uuid}", omar, {"name": "Mine"}, 403, None),
        ("DELETE", f"/api/groups/{uuid}", omar, None, 403, None),
        ("DELETE", f"/api/groups/{uuid}/members/{aiko_me['uuid']}", omar, None, 403, None),
        ("GET", f"/api/groups/{uuid}", stranger, None, 404, None),
        ("DELETE", f"/api/groups/{uuid}", stranger, None, 404, None),
        ("PUT", f"/api/groups/{uuid}/members/{uuid4()}", aiko, {"role": "owner"}, 404, None),
        ("GET", "/api/groups/not-a-uuid", aiko, None, 422, "uuid"),
        ("GET", "/api/admin/groups", aiko, None, 403, None),
    ]
    for method, path, headers, body, status, field in cases:
        response = client.request(method, path, headers=headers, json=body)
        assert response.status_code == status, (method, path, body, response.text)
        if field is not None:
            assert response.json()["field"] == field, (method, path, response.json())
    assert client.get(f"/api/groups/{uuid}", headers=aiko).json() == before
    assert "owner" in client.delete(f"/api/groups/{uuid}/members/{aiko_me['uuid']}", headers=aiko).json()["detail"]


def test_an_admin_lists_every_group(client: Any, fresh_url: str) -> None:
    aiko, _ = named(client, "Aiko")
    admin, _ = named(client, "Admin")
    make_admin(fresh_url, admin, client)
    uuid = client.post("/api/groups", headers=aiko, json={"name": "Aiko's"}).json()["uuid"]
    assert client.get("/api/groups", headers=admin).json() == []
    listed = client.get("/api/admin/groups", headers=admin)
    assert listed.status_code == 200 and [(g["uuid"], g["my_role"]) for g in listed.json()] == [(uuid, None)]
    assert client.get(f"/api/groups/{uuid}", headers=admin).status_code == 200
