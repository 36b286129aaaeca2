"""/api/llm-configs through HTTP: CRUD, activation, the write-only api key, and live connection tests."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import psycopg
import pytest

from tests.llm_servers import LocalServer, Received, Reply, openai_answer
from tests.web import register

SECRET = "sk-web-3d9f1a7c-NEVER-SHOWN-52be"
UNKNOWN = "00000000-0000-4000-8000-000000000000"


class Recorder:
    """A client wrapper that keeps every response body, to prove the api key never comes back."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.bodies: list[str] = []

    def __call__(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.client.request(method, path, **kwargs)
        self.bodies.append(response.text)
        return response


@pytest.fixture
def http(client: Any) -> Iterator[Recorder]:
    recorder = Recorder(client)
    yield recorder
    assert all(SECRET not in body for body in recorder.bodies), "the api key leaked into a response"


@pytest.fixture
def server() -> Iterator[LocalServer]:
    local = LocalServer(lambda _: Reply(body=openai_answer("OK")))
    local.start()
    yield local
    local.stop()


def new_config(http: Recorder, headers: dict[str, str], **changes: Any) -> dict[str, Any]:
    body = {"name": "Local", "provider": "custom", "model_name": "test-model", "api_key": SECRET, **changes}
    response = http("POST", "/api/llm-configs", headers=headers, json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_create_list_get_update_delete(http: Recorder) -> None:
    headers = register(http.client)
    created = new_config(http, headers, base_url="http://127.0.0.1:9/v1", temperature=0.5, max_tokens=1000)
    assert created["has_api_key"] is True and created["api_key_mask"] == "••••"
    assert {"id", "user_id", "api_key", "api_key_encrypted"}.isdisjoint(created)
    assert created["temperature"] == 0.5 and created["max_tokens"] == 1000 and created["is_active"] is False
    uuid = created["uuid"]
    listed = http("GET", "/api/llm-configs", headers=headers)
    assert listed.status_code == 200 and [c["uuid"] for c in listed.json()] == [uuid]
    detail = http("GET", f"/api/llm-configs/{uuid}", headers=headers)
    assert detail.status_code == 200 and detail.json()["recent_tests"] == []
    changed = http("PUT", f"/api/llm-configs/{uuid}", headers=headers, json={"name": "Renamed", "base_url": ""})
    assert changed.status_code == 200
    assert changed.json()["name"] == "Renamed" and changed.json()["base_url"] is None
    assert changed.json()["has_api_key"] is True, "a key not mentioned stays"
    removed = http("PUT", f"/api/llm-configs/{uuid}", headers=headers, json={"api_key": ""})
    assert removed.json()["has_api_key"] is False and removed.json()["api_key_mask"] is None
    assert http("GET", f"/api/llm-configs/{uuid}", headers=headers).json()["name"] == "Renamed"
    assert http("DELETE", f"/api/llm-configs/{uuid}", headers=headers).status_code == 204
    assert http("GET", f"/api/llm-configs/{uuid}", headers=headers).status_code == 404
    assert http("GET", "/api/llm-configs", headers=headers).json() == []


def test_a_name_of_a_separator_character_the_document_accepts_is_kept(http: Recorder) -> None:
    """U+001C is no white space to the API's document (JSON Schema's `\\s`), so a name of it is valid; Python's
    str.strip() removed it in the repository and the empty name failed the table's CHECK (found by Schemathesis)."""
    headers = register(http.client)
    made = http(
        "POST",
        "/api/llm-configs",
        headers=headers,
        json={"provider": "anthropic", "model_name": "0" * 200, "name": "\u001c"},
    )
    assert made.status_code == 201, made.text
    assert made.json()["name"] == "\u001c" and made.json()["model_name"] == "0" * 200
    renamed = http("PUT", f"/api/llm-configs/{made.json()['uuid']}", headers=headers, json={"name": " \u001f会議 "})
    assert renamed.status_code == 200 and renamed.json()["name"] == "\u001f会議"


def test_the_key_is_stored_encrypted_and_a_new_key_replaces_it(http: Recorder, fresh_url: str) -> None:
    headers = register(http.client)
    uuid = new_config(http, headers)["uuid"]
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        row = conn.execute("SELECT api_key_encrypted FROM user_llm_configurations WHERE uuid = %s", [uuid]).fetchone()
    assert row is not None and SECRET.encode() not in bytes(row[0])
    replaced = http("PUT", f"/api/llm-configs/{uuid}", headers=headers, json={"api_key": SECRET + "-2"})
    assert replaced.status_code == 200 and replaced.json()["has_api_key"] is True


def test_activate_keeps_exactly_one_active(http: Recorder) -> None:
    headers = register(http.client)
    first = new_config(http, headers, name="First")["uuid"]
    second = new_config(http, headers, name="Second")["uuid"]
    for target in (first, second, second):
        response = http("POST", f"/api/llm-configs/{target}/activate", headers=headers)
        assert response.status_code == 200 and response.json()["is_active"] is True
        active = [c["uuid"] for c in http("GET", "/api/llm-configs", headers=headers).json() if c["is_active"]]
        assert active == [target]


def test_connection_test_against_a_local_openai_compatible_server(
    http: Recorder, server: LocalServer, fresh_url: str
) -> None:
    headers = register(http.client)
    uuid = new_config(http, headers, base_url=f"{server.url}/v1")["uuid"]
    open_transactions: list[int] = []

    def answer(received: Received) -> Reply:
        with psycopg.connect(fresh_url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND state LIKE 'idle in transaction%%' AND pid <> pg_backend_pid()"
            ).fetchone()
        open_transactions.append(row[0] if row else -1)
        return Reply(body=openai_answer("OK"))

    server.responder = answer
    response = http("POST", f"/api/llm-configs/{uuid}/test", headers=headers)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["ok"] is True and isinstance(result["latency_ms"], int)
    assert "test-model" in result["message"]
    assert open_transactions == [0], "no database transaction is held while the LLM answers"
    request = server.requests[-1]
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    assert request.json()["model"] == "test-model"
    history = http("GET", f"/api/llm-configs/{uuid}", headers=headers).json()["recent_tests"]
    assert len(history) == 1 and history[0]["ok"] is True and history[0]["latency_ms"] == result["latency_ms"]


def test_connection_test_to_a_closed_port_fails_readably_and_is_recorded(http: Recorder) -> None:
    headers = register(http.client)
    uuid = new_config(http, headers, base_url=f"http://127.0.0.1:{closed_port()}/v1")["uuid"]
    response = http("POST", f"/api/llm-configs/{uuid}/test", headers=headers)
    assert response.status_code == 200
    result = response.json()
    assert result["ok"] is False and "could not reach" in result["message"]
    history = http("GET", f"/api/llm-configs/{uuid}", headers=headers).json()["recent_tests"]
    assert [(t["ok"], t["message"]) for t in history] == [(False, result["message"])]


def test_connection_test_reports_a_server_error_without_the_key(http: Recorder, server: LocalServer) -> None:
    headers = register(http.client)
    uuid = new_config(http, headers, base_url=f"{server.url}/v1")["uuid"]
    server.responder = lambda _: Reply(status=401, body={"error": f"bad key {SECRET}"})
    result = http("POST", f"/api/llm-configs/{uuid}/test", headers=headers).json()
    assert result["ok"] is False and "HTTP 401" in result["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "provider": "gpt", "model_name": "m"}, "provider"),
        ({"name": "", "provider": "openai", "model_name": "m"}, "name"),
        ({"name": "x", "provider": "openai"}, "model_name"),
        ({"name": "x", "provider": "openai", "model_name": "m", "temperature": 3}, "temperature"),
        ({"name": "x", "provider": "openai", "model_name": "m", "max_tokens": 0}, "max_tokens"),
        ({"name": "x", "provider": "openai", "model_name": "m", "base_url": "ftp://host"}, "base_url"),
        ({"name": "x", "provider": "openai", "model_name": "m", "api_key_encrypted": "x"}, "api_key_encrypted"),
        ({"name": "x", "provider": "openai", "model_name": "m", "api_key": "sk-\u00e9t\u00e9"}, "api_key"),
        ({"name": "x", "provider": "openai", "model_name": "m", "api_key": "sk-a\nb"}, "api_key"),
        ({"name": "x", "provider": "openai", "model_name": "m", "base_url": f"http://{'a' * 64}.com/v1"}, "base_url"),
        ({"name": "x", "provider": "openai", "model_name": "m", "base_url": "http://h\u00f6st.example/v1"}, "base_url"),
        ({"name": "x", "provider": "openai", "model_name": "m", "base_url": "http://host:70000/v1"}, "base_url"),
        ({"name": "x", "provider": "openai", "model_name": "m", "temperature": 1e-50}, "temperature"),
        ({"name": "x", "provider": "openai", "model_name": "m", "temperature": False}, "temperature"),
        ({"name": "x", "provider": "openai", "model_name": "m", "max_tokens": True}, "max_tokens"),
        ({"name": "x", "provider": "openai", "model_name": "m", "max_tokens": "12"}, "max_tokens"),
    ],
)
def test_bad_configurations_name_the_field(http: Recorder, body: dict[str, Any], field: str) -> None:
    headers = register(http.client)
    response = http("POST", "/api/llm-configs", headers=headers, json=body)
    assert response.status_code == 422
    assert response.json()["field"] == field


def test_bad_api_keys_and_urls_are_refused_on_update_too(http: Recorder) -> None:
    headers = register(http.client)
    uuid = new_config(http, headers)["uuid"]
    for body, field in [
        ({"api_key": "sk-\u00e9"}, "api_key"),
        ({"base_url": f"https://{'b' * 64}.example/v1"}, "base_url"),
        ({"temperature": 1e-50}, "temperature"),
    ]:
        response = http("PUT", f"/api/llm-configs/{uuid}", headers=headers, json=body)
        assert response.status_code == 422 and response.json()["field"] == field, body


def test_numbers_are_strict_yet_an_integer_is_a_float(http: Recorder) -> None:
    headers = register(http.client)
    created = new_config(http, headers, temperature=1, max_tokens=12)
    assert (created["temperature"], created["max_tokens"]) == (1.0, 12)


@pytest.mark.parametrize(
    ("column", "value"),
    [("base_url", f"http://{'c' * 64}.example/v1"), ("base_url", "http://h\u00f6st:1/v1")],
)
def test_testing_a_bad_stored_configuration_is_a_failed_test(
    http: Recorder, fresh_url: str, column: str, value: str
) -> None:
    """Rows saved before today's rules: the test answers 200 with ok=false and records it, never a 500."""
    headers = register(http.client)
    uuid = new_config(http, headers)["uuid"]
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        conn.execute(f"UPDATE user_llm_configurations SET {column} = %s WHERE uuid = %s", [value, uuid])
    response = http("POST", f"/api/llm-configs/{uuid}/test", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["ok"] is False
    history = http("GET", f"/api/llm-configs/{uuid}", headers=headers).json()["recent_tests"]
    assert [t["ok"] for t in history] == [False]


def test_testing_a_stored_non_ascii_api_key_is_a_failed_test(http: Recorder, fresh_url: str) -> None:
    from repo.llm_configs import LlmConfigRepository
    from repo.rows import Actor

    headers = register(http.client)
    uuid = new_config(http, headers, base_url="http://127.0.0.1:9/v1")["uuid"]
    master_key = http.client.app.state.services.master_key
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        row = conn.execute("SELECT user_id FROM user_llm_configurations WHERE uuid = %s", [uuid]).fetchone()
        assert row is not None
        LlmConfigRepository(conn, master_key).update(Actor(row[0]), UUID(uuid), api_key="sk-\u00e9t\u00e9")
    response = http("POST", f"/api/llm-configs/{uuid}/test", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["ok"] is False


def test_bad_updates_and_uuids_name_the_field(http: Recorder) -> None:
    headers = register(http.client)
    uuid = new_config(http, headers)["uuid"]
    new_config(http, headers, name="Taken")
    duplicate = http("PUT", f"/api/llm-configs/{uuid}", headers=headers, json={"name": "Taken"})
    assert duplicate.status_code == 409 and duplicate.json()["field"] == "name"
    twice = http(
        "POST", "/api/llm-configs", headers=headers, json={"name": "Taken", "provider": "ollama", "model_name": "m"}
    )
    assert twice.status_code == 409 and twice.json()["field"] == "name"
    bad = http("PUT", f"/api/llm-configs/{uuid}", headers=headers, json={"provider": "nope"})
    assert bad.status_code == 422 and bad.json()["field"] == "provider"
    for method, path in [
        ("GET", "/api/llm-configs/not-a-uuid"),
        ("PUT", "/api/llm-configs/not-a-uuid"),
        ("DELETE", "/api/llm-configs/not-a-uuid"),
        ("POST", "/api/llm-configs/not-a-uuid/activate"),
        ("POST", "/api/llm-configs/not-a-uuid/test"),
    ]:
        response = http(method, path, headers=headers, json={})
        assert response.status_code == 422 and response.json()["field"] == "uuid", path
    assert http("GET", f"/api/llm-configs/{UNKNOWN}", headers=headers).status_code == 404


def test_another_users_configuration_is_not_found(http: Recorder, server: LocalServer) -> None:
    owner, stranger = register(http.client), register(http.client)
    uuid = new_config(http, owner, base_url=f"{server.url}/v1")["uuid"]
    for method, path, body in [
        ("GET", f"/api/llm-configs/{uuid}", None),
        ("PUT", f"/api/llm-configs/{uuid}", {"name": "Mine now"}),
        ("DELETE", f"/api/llm-configs/{uuid}", None),
        ("POST", f"/api/llm-configs/{uuid}/activate", None),
        ("POST", f"/api/llm-configs/{uuid}/test", None),
    ]:
        assert http(method, path, headers=stranger, json=body).status_code == 404, (method, path)
    assert http("GET", "/api/llm-configs", headers=stranger).json() == []
    assert server.requests == [], "a stranger cannot make the owner's key travel"
    kept = http("GET", f"/api/llm-configs/{uuid}", headers=owner).json()
    assert kept["name"] == "Local" and kept["is_active"] is False


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/llm-configs"),
        ("POST", "/api/llm-configs"),
        ("GET", f"/api/llm-configs/{UNKNOWN}"),
        ("PUT", f"/api/llm-configs/{UNKNOWN}"),
        ("DELETE", f"/api/llm-configs/{UNKNOWN}"),
        ("POST", f"/api/llm-configs/{UNKNOWN}/activate"),
        ("POST", f"/api/llm-configs/{UNKNOWN}/test"),
    ],
)
def test_every_route_needs_a_token(client: Any, method: str, path: str) -> None:
    assert client.request(method, path, json={}).status_code == 401


def test_an_unsaved_configuration_is_tested_and_its_models_listed_with_a_saved_key(
    http: Recorder, server: LocalServer
) -> None:
    headers = register(http.client)

    def answer(received: Received) -> Reply:
        if received.path.endswith("/models"):
            return Reply(body={"data": [{"id": "model-b"}, {"id": "model-a"}]})
        return Reply(body=openai_answer("OK"))

    server.responder = answer
    body = {"provider": "custom", "base_url": f"{server.url}/v1", "model_name": "model-a", "api_key": SECRET}
    tested = http("POST", "/api/llm-configs/test", headers=headers, json=body)
    assert tested.status_code == 200 and tested.json()["ok"] is True, tested.text
    assert server.requests[-1].json()["model"] == "model-a"
    assert http("GET", "/api/llm-configs", headers=headers).json() == [], "a test saves nothing"

    listed = http(
        "POST", "/api/llm-configs/models", headers=headers, json={"provider": "custom", "base_url": body["base_url"]}
    )
    assert listed.json() == {"ok": True, "models": ["model-a", "model-b"], "message": "2 models"}
    assert "authorization" not in server.requests[-1].headers, "no key given, none sent"

    saved = new_config(http, headers, base_url=f"{server.url}/v1")
    borrowed = {"provider": "custom", "base_url": f"{server.url}/v1", "llm_config_uuid": saved["uuid"]}
    assert http("POST", "/api/llm-configs/models", headers=headers, json=borrowed).json()["ok"] is True
    assert server.requests[-1].headers["authorization"] == f"Bearer {SECRET}", "the saved key is lent"
    from_saved = http("GET", f"/api/llm-configs/{saved['uuid']}/models", headers=headers)
    assert from_saved.json()["models"] == ["model-a", "model-b"]

    stranger = register(http.client)
    reached = len(server.requests)
    # a body naming another user's configuration is a 409 naming the field; the path naming it, a 404
    for method, path, json, status in [
        ("POST", "/api/llm-configs/models", borrowed, 409),
        ("POST", "/api/llm-configs/test", {**borrowed, "model_name": "m"}, 409),
        ("GET", f"/api/llm-configs/{saved['uuid']}/models", None, 404),
    ]:
        refused = http(method, path, headers=stranger, json=json)
        assert refused.status_code == status, (path, refused.text)
    assert len(server.requests) == reached, "another user's configuration lends no key and reaches no server"


def test_an_unreachable_server_answers_ok_false_quickly(http: Recorder) -> None:
    headers = register(http.client)
    body = {"provider": "ollama", "base_url": f"http://127.0.0.1:{closed_port()}"}
    listed = http("POST", "/api/llm-configs/models", headers=headers, json=body)
    assert listed.status_code == 200 and listed.json()["ok"] is False and listed.json()["models"] == []
    assert "could not reach" in listed.json()["message"]
    tested = http("POST", "/api/llm-configs/test", headers=headers, json={**body, "model_name": "llama3.1"})
    assert tested.status_code == 200 and tested.json()["ok"] is False
    bad = http("POST", "/api/llm-configs/models", headers=headers, json={"provider": "nope"})
    assert (bad.status_code, bad.json()["field"]) == (422, "provider")
