"""/api/prompts through HTTP: system and own prompts, CRUD, activation and the active prompt."""

from __future__ import annotations

from typing import Any

import pytest

from tests.web import make_admin, register

UNKNOWN = "00000000-0000-4000-8000-000000000000"
GENERAL_DEFAULT = "Universal Content Analyzer"


def new_prompt(client: Any, headers: dict[str, str], **changes: Any) -> dict[str, Any]:
    body = {"name": "Mine", "prompt_text": "Summarise {transcript}", "content_type": "meeting", **changes}
    response = client.post("/api/prompts", headers=headers, json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def system_prompt(client: Any, headers: dict[str, str], name: str = GENERAL_DEFAULT) -> dict[str, Any]:
    found: dict[str, Any] = next(p for p in client.get("/api/prompts", headers=headers).json() if p["name"] == name)
    return found


def test_list_shows_system_prompts_then_your_own(client: Any) -> None:
    headers = register(client)
    listed = client.get("/api/prompts", headers=headers)
    assert listed.status_code == 200
    system = listed.json()
    assert len(system) == 2 and all(p["is_system"] and p["is_system_default"] for p in system)
    assert {"id", "user_id"}.isdisjoint(system[0])
    mine = new_prompt(client, headers)
    assert mine["is_system"] is False and mine["is_active"] is True and mine["description"] is None
    names = [p["name"] for p in client.get("/api/prompts", headers=headers).json()]
    assert names[-1] == "Mine" and len(names) == 3
    meeting = client.get("/api/prompts", headers=headers, params={"content_type": "meeting"}).json()
    assert [p["uuid"] for p in meeting] == [mine["uuid"]]


def test_create_get_update_delete(client: Any) -> None:
    headers = register(client)
    uuid = new_prompt(client, headers, description="for meetings")["uuid"]
    got = client.get(f"/api/prompts/{uuid}", headers=headers)
    assert got.status_code == 200 and got.json()["description"] == "for meetings"
    changed = client.put(
        f"/api/prompts/{uuid}", headers=headers, json={"name": "Renamed", "description": "", "is_active": False}
    )
    assert changed.status_code == 200
    assert changed.json()["name"] == "Renamed" and changed.json()["description"] is None
    assert changed.json()["is_active"] is False and changed.json()["content_type"] == "meeting"
    assert client.get(f"/api/prompts/{uuid}", headers=headers).json()["name"] == "Renamed"
    assert client.delete(f"/api/prompts/{uuid}", headers=headers).status_code == 204
    assert client.get(f"/api/prompts/{uuid}", headers=headers).status_code == 404


def test_active_prompt_is_the_system_default_until_one_is_activated(client: Any) -> None:
    headers = register(client)
    active = client.get("/api/prompts/active", headers=headers)
    assert active.status_code == 200 and active.json()["name"] == GENERAL_DEFAULT
    identification = client.get(
        "/api/prompts/active", headers=headers, params={"content_type": "speaker_identification"}
    )
    assert identification.json()["name"] == "Speaker Identification Assistant"
    mine = new_prompt(client, headers, content_type="general")
    activated = client.post(f"/api/prompts/{mine['uuid']}/activate", headers=headers)
    assert activated.status_code == 200 and activated.json()["uuid"] == mine["uuid"]
    assert client.get("/api/prompts/active", headers=headers).json()["uuid"] == mine["uuid"]
    assert client.get("/api/settings/summary.active_prompt", headers=headers).json()["value"] == mine["uuid"]
    system = system_prompt(client, headers)
    assert client.post(f"/api/prompts/{system['uuid']}/activate", headers=headers).status_code == 200
    assert client.get("/api/prompts/active", headers=headers).json()["uuid"] == system["uuid"]


def test_system_prompts_are_read_only_for_users_and_editable_by_admins(client: Any, fresh_url: str) -> None:
    user, admin = register(client), register(client)
    make_admin(fresh_url, admin, client)
    uuid = system_prompt(client, user)["uuid"]
    assert client.get(f"/api/prompts/{uuid}", headers=user).status_code == 200
    refused = client.put(f"/api/prompts/{uuid}", headers=user, json={"name": "Hijacked"})
    assert refused.status_code == 403
    assert client.delete(f"/api/prompts/{uuid}", headers=user).status_code == 403
    edited = client.put(f"/api/prompts/{uuid}", headers=admin, json={"description": "edited by an admin"})
    assert edited.status_code == 200 and edited.json()["description"] == "edited by an admin"
    default = client.delete(f"/api/prompts/{uuid}", headers=admin)
    assert default.status_code == 409 and default.json()["field"] == "is_system_default"
    assert client.get(f"/api/prompts/{uuid}", headers=user).json()["description"] == "edited by an admin"


def test_another_users_prompt_is_not_found(client: Any) -> None:
    owner, stranger = register(client), register(client)
    uuid = new_prompt(client, owner)["uuid"]
    for method, path, body in [
        ("GET", f"/api/prompts/{uuid}", None),
        ("PUT", f"/api/prompts/{uuid}", {"name": "Mine now"}),
        ("DELETE", f"/api/prompts/{uuid}", None),
        ("POST", f"/api/prompts/{uuid}/activate", None),
    ]:
        assert client.request(method, path, headers=stranger, json=body).status_code == 404, (method, path)
    assert uuid not in [p["uuid"] for p in client.get("/api/prompts", headers=stranger).json()]
    assert client.get(f"/api/prompts/{uuid}", headers=owner).json()["name"] == "Mine"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "prompt_text": "t", "content_type": "novel"}, "content_type"),
        ({"name": " ", "prompt_text": "t"}, "name"),
        ({"name": "x"}, "prompt_text"),
        ({"name": "x", "prompt_text": ""}, "prompt_text"),
        ({"name": "x", "prompt_text": "t", "is_system_default": True}, "is_system_default"),
        ({"name": "x" * 201, "prompt_text": "t"}, "name"),
    ],
)
def test_bad_prompts_name_the_field(client: Any, body: dict[str, Any], field: str) -> None:
    headers = register(client)
    response = client.post("/api/prompts", headers=headers, json=body)
    assert response.status_code == 422
    assert response.json()["field"] == field


def test_bad_queries_updates_and_uuids_name_the_field(client: Any) -> None:
    headers = register(client)
    uuid = new_prompt(client, headers)["uuid"]
    new_prompt(client, headers, name="Taken")
    duplicate = client.put(f"/api/prompts/{uuid}", headers=headers, json={"name": "Taken"})
    assert duplicate.status_code == 409 and duplicate.json()["field"] == "name"
    bad_type = client.put(f"/api/prompts/{uuid}", headers=headers, json={"content_type": "novel"})
    assert bad_type.status_code == 422 and bad_type.json()["field"] == "content_type"
    for path in ["/api/prompts", "/api/prompts/active"]:
        response = client.get(path, headers=headers, params={"content_type": "novel"})
        assert response.status_code == 422 and response.json()["field"] == "content_type", path
    for method, path in [
        ("GET", "/api/prompts/nope"),
        ("PUT", "/api/prompts/nope"),
        ("DELETE", "/api/prompts/nope"),
        ("POST", "/api/prompts/nope/activate"),
    ]:
        response = client.request(method, path, headers=headers, json={})
        assert response.status_code == 422 and response.json()["field"] == "uuid", (method, path)
    assert client.get(f"/api/prompts/{UNKNOWN}", headers=headers).status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/prompts"),
        ("POST", "/api/prompts"),
        ("GET", "/api/prompts/active"),
        ("GET", f"/api/prompts/{UNKNOWN}"),
        ("PUT", f"/api/prompts/{UNKNOWN}"),
        ("DELETE", f"/api/prompts/{UNKNOWN}"),
        ("POST", f"/api/prompts/{UNKNOWN}/activate"),
    ],
)
def test_every_route_needs_a_token(client: Any, method: str, path: str) -> None:
    assert client.request(method, path, json={}).status_code == 401


SCHEMA = {"type": "object", "properties": {"owner": {"type": "string"}}, "required": ["owner"]}


def test_a_prompt_declares_its_output_shape(client: Any) -> None:
    headers = register(client)
    assert new_prompt(client, headers)["output_format"] == "bluf"
    shaped = new_prompt(client, headers, name="Shaped", output_format="json", output_schema=SCHEMA)
    assert (shaped["output_format"], shaped["output_schema"]) == ("json", SCHEMA)
    assert client.get(f"/api/prompts/{shaped['uuid']}", headers=headers).json()["output_schema"] == SCHEMA
    changed = client.put(f"/api/prompts/{shaped['uuid']}", headers=headers, json={"output_format": "markdown"})
    assert changed.status_code == 200 and (changed.json()["output_format"], changed.json()["output_schema"]) == (
        "markdown",
        None,
    )
    back = client.put(f"/api/prompts/{shaped['uuid']}", headers=headers, json={"output_format": "json"})
    assert back.status_code == 409 and back.json()["field"] == "output_schema"
    again = {"output_format": "json", "output_schema": SCHEMA}
    assert client.put(f"/api/prompts/{shaped['uuid']}", headers=headers, json=again).json()["output_schema"] == SCHEMA


@pytest.mark.parametrize(
    ("body", "status", "field", "detail"),
    [
        (
            {"output_format": "json", "output_schema": {"type": "object", "properties": {"owner": {"type": "nope"}}}},
            422,
            "output_schema",
            "output_schema: /properties/owner/type: 'nope' is not valid",
        ),
        ({"output_format": "json", "output_schema": {"type": "array"}}, 422, "output_schema", "output_schema: /type:"),
        ({"output_format": "json"}, 409, "output_schema", "a prompt whose output_format is json needs"),
        ({"output_format": "markdown", "output_schema": SCHEMA}, 409, "output_schema", "output_schema goes with"),
        ({"output_format": "yaml"}, 422, "output_format", "output_format:"),
    ],
)
def test_bad_output_shapes_name_the_field_and_the_path_in_the_schema(
    client: Any, body: dict[str, Any], status: int, field: str, detail: str
) -> None:
    headers = register(client)
    response = client.post("/api/prompts", headers=headers, json={"name": "x", "prompt_text": "t", **body})
    assert response.status_code == status, response.text
    assert response.json()["field"] == field
    assert response.json()["detail"].startswith(detail)
