"""Settings, collections, notifications and admin pages (web/ui/settings.py, collections.py, notifications.py,
admin.py): forms write through the repositories; the LLM api key is write-only."""

from __future__ import annotations

from typing import Any

import psycopg

from tests.web import sign_up

API_KEY = "sk-ui-7f3a-never-shown-again"


def test_llm_configuration_key_is_write_only(client: Any) -> None:
    token = sign_up(client)
    added = client.post(
        "/settings/llm",
        data={
            "csrf": token,
            "name": "Local",
            "provider": "openai",
            "model_name": "m1",
            "api_key": API_KEY,
            "activate": "on",
        },
    )
    assert added.status_code == 200 and API_KEY not in added.text
    [config] = client.get("/api/llm-configs").json()
    assert config["has_api_key"] and config["is_active"] and config["name"] == "Local"
    bad = client.post("/settings/llm", data={"csrf": token, "name": "X", "provider": "nope", "model_name": "m"})
    assert bad.status_code == 422 and "provider" in bad.text.lower() and "Traceback" not in bad.text


def test_preferences_prompts_collections_notifications(client: Any, fresh_url: str) -> None:
    token = sign_up(client)
    saved = client.post(
        "/settings/preferences",
        data={"csrf": token, "summary.auto": "on", "ui.theme": "dark", "transcription.language": "de"},
    )
    assert saved.status_code == 200
    values = client.get("/api/settings").json()
    assert values["summary.auto"] is True and values["ui.theme"] == "dark" and values["transcription.language"] == "de"
    assert client.get("/api/notifications/preferences").json()["upload"] is False  # unticked boxes turn kinds off
    client.post("/settings/prompts", data={"csrf": token, "name": "Short", "prompt_text": "Sum up {transcript}"})
    assert "Short" in [p["name"] for p in client.get("/api/prompts").json()]
    client.post("/collections/new", data={"csrf": token, "name": "Team"})
    [collection] = client.get("/api/collections").json()
    client.post(f"/collections/{collection['uuid']}/edit", data={"csrf": token, "name": "Team A", "description": ""})
    assert client.get("/api/collections").json()[0]["name"] == "Team A"
    client.post(f"/collections/{collection['uuid']}/delete", data={"csrf": token})
    assert client.get("/api/collections").json() == []
    assert client.post("/notifications/read", data={"csrf": token}).status_code == 200


def test_admin_page_lists_users_for_administrators_only(client: Any, fresh_url: str) -> None:
    sign_up(client, "root@example.com")
    assert client.get("/admin").status_code == 403
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        conn.execute("UPDATE users SET role = 'admin' WHERE email = 'root@example.com'")
    page = client.get("/admin")
    assert page.status_code == 200 and "root@example.com" in page.text and "Recorded time" in page.text
