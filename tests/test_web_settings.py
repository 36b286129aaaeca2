"""/api/settings through HTTP: defaults, all-or-nothing bulk writes, per-key read, write and reset."""

from __future__ import annotations

from typing import Any

import pytest

from repo.user_settings import SETTINGS
from tests.web import register
from web.openapi import without_nul

DEFAULTS = {key: spec.default for key, spec in SETTINGS.items()}


def test_every_key_reads_as_its_default_until_set(client: Any) -> None:
    headers = register(client)
    response = client.get("/api/settings", headers=headers)
    assert response.status_code == 200
    assert response.json() == DEFAULTS
    assert "id" not in response.json()


def test_bulk_update_stores_every_value_and_answers_with_all(client: Any) -> None:
    headers = register(client)
    prompt_uuid = client.get("/api/prompts", headers=headers).json()[0]["uuid"]
    changes = {
        "ui.theme": "dark",
        "summary.auto": True,
        "recording.max_minutes": 30,
        "summary.active_prompt": prompt_uuid,
    }
    response = client.put("/api/settings", headers=headers, json=changes)
    assert response.status_code == 200
    assert response.json() == {**DEFAULTS, **changes}
    assert client.get("/api/settings", headers=headers).json() == {**DEFAULTS, **changes}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"ui.theme": "light", "nope.key": 1}, "nope.key"),
        ({"ui.theme": "light", "recording.max_minutes": 0}, "recording.max_minutes"),
        ({"ui.theme": "light", "summary.auto": "yes"}, "summary.auto"),
        ({"ui.theme": "purple"}, "ui.theme"),
        ({"ui.language": "e"}, "ui.language"),
    ],
)
def test_bulk_update_is_all_or_nothing_and_names_the_bad_key(client: Any, changes: dict[str, Any], field: str) -> None:
    headers = register(client)
    assert client.put("/api/settings", headers=headers, json={"ui.theme": "dark"}).status_code == 200
    response = client.put("/api/settings", headers=headers, json=changes)
    assert response.status_code == 422
    assert response.json()["field"] == field
    assert client.get("/api/settings", headers=headers).json()["ui.theme"] == "dark", "nothing was stored"


@pytest.mark.parametrize("raw", [b"[1, 2]", b"{", b'"dark"'])
def test_bulk_update_refuses_a_body_that_is_not_an_object(client: Any, raw: bytes) -> None:
    headers = register(client)
    response = client.put("/api/settings", headers={**headers, "content-type": "application/json"}, content=raw)
    assert 400 <= response.status_code < 500
    assert response.json()["field"] == "body"


def test_one_key_is_read_written_and_reset(client: Any) -> None:
    headers = register(client)
    assert client.get("/api/settings/ui.theme", headers=headers).json() == {"key": "ui.theme", "value": "system"}
    written = client.put("/api/settings/ui.theme", headers=headers, json={"value": "light"})
    assert written.status_code == 200 and written.json() == {"key": "ui.theme", "value": "light"}
    assert client.get("/api/settings/ui.theme", headers=headers).json()["value"] == "light"
    assert client.get("/api/settings", headers=headers).json()["ui.theme"] == "light"
    reset = client.delete("/api/settings/ui.theme", headers=headers)
    assert reset.status_code == 200 and reset.json() == {"key": "ui.theme", "value": "system"}
    assert client.get("/api/settings/ui.theme", headers=headers).json()["value"] == "system"


def test_a_nullable_key_takes_null(client: Any) -> None:
    headers = register(client)
    assert client.put("/api/settings/transcription.language", headers=headers, json={"value": "de"}).status_code == 200
    cleared = client.put("/api/settings/transcription.language", headers=headers, json={"value": None})
    assert cleared.status_code == 200 and cleared.json()["value"] is None


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("GET", "/api/settings/no.such.key", None, "no.such.key"),
        ("PUT", "/api/settings/no.such.key", {"value": 1}, "no.such.key"),
        ("DELETE", "/api/settings/no.such.key", None, "no.such.key"),
        ("PUT", "/api/settings/ui.theme", {"value": "blue"}, "ui.theme"),
        ("PUT", "/api/settings/recording.max_minutes", {"value": 1.5}, "recording.max_minutes"),
        ("PUT", "/api/settings/ui.theme", {}, "value"),
        ("PUT", "/api/settings/ui.theme", {"value": "dark", "extra": 1}, "extra"),
        ("GET", "/api/settings/" + "k" * 101, None, "key"),
    ],
)
def test_bad_keys_and_values_name_the_field(
    client: Any, method: str, path: str, body: dict[str, Any] | None, field: str
) -> None:
    headers = register(client)
    response = client.request(method, path, headers=headers, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field


def test_settings_are_per_user(client: Any) -> None:
    ann, bob = register(client), register(client)
    client.put("/api/settings", headers=ann, json={"ui.theme": "dark", "summary.auto": True})
    assert client.get("/api/settings", headers=bob).json() == DEFAULTS
    assert client.get("/api/settings/ui.theme", headers=bob).json()["value"] == "system"
    client.delete("/api/settings/ui.theme", headers=bob)
    assert client.get("/api/settings/ui.theme", headers=ann).json()["value"] == "dark"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/settings"),
        ("PUT", "/api/settings"),
        ("GET", "/api/settings/ui.theme"),
        ("PUT", "/api/settings/ui.theme"),
        ("DELETE", "/api/settings/ui.theme"),
    ],
)
def test_every_route_needs_a_token(client: Any, method: str, path: str) -> None:
    response = client.request(method, path, json={"value": "dark"})
    assert response.status_code == 401


def test_the_active_prompt_must_be_one_you_can_see(client: Any) -> None:
    ann, bob = register(client), register(client)
    theirs = client.post("/api/prompts", headers=bob, json={"name": "mine", "prompt_text": "Sum {transcript}"})
    assert theirs.status_code == 201, theirs.text
    for path, body in [
        ("/api/settings", {"summary.active_prompt": theirs.json()["uuid"]}),
        ("/api/settings/summary.active_prompt", {"value": theirs.json()["uuid"]}),
        ("/api/settings/summary.active_prompt", {"value": "00000000-0000-4000-8000-000000000000"}),
    ]:
        response = client.put(path, headers=ann, json=body)
        assert response.status_code == 409 and response.json()["field"] == "summary.active_prompt", response.text
    assert client.get("/api/settings/summary.active_prompt", headers=ann).json()["value"] is None


def test_each_key_is_documented_with_its_own_value_type(client: Any) -> None:
    document = client.get("/api/openapi.json").json()
    for key, spec in SETTINGS.items():
        body = document["paths"][f"/api/settings/{key}"]["put"]["requestBody"]["content"]["application/json"]
        value = body["schema"]["properties"]["value"]
        assert value == {**without_nul(spec.adapter.json_schema()), "title": "Value"}, key
        assert body["schema"]["additionalProperties"] is False
    bulk = document["paths"]["/api/settings"]["put"]["requestBody"]["content"]["application/json"]["schema"]
    assert set(bulk["properties"]) == set(SETTINGS) and bulk["additionalProperties"] is False
    assert document["paths"]["/api/settings/ui.theme"]["put"]["requestBody"]["content"]["application/json"]["schema"][
        "properties"
    ]["value"]["enum"] == ["light", "dark", "system"]
