"""Settings, collections, notifications and admin pages (web/ui/settings.py, collections.py, notifications.py,
admin.py): forms write through the repositories; the LLM api key is write-only."""

from __future__ import annotations

import re
from typing import Any

import psycopg

from config.settings import Settings
from tests.web import PAGE_PASSWORD, csrf_in, sign_up

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
    page = client.get("/settings").text  # one box per outcome, in words; no box for the steps of processing
    for words in ("A transcript is ready", "Speakers are recognised from your speaker profiles", "A summary is ready"):
        assert words in page
    assert 'name="notify.processing"' not in page and 'name="notify.upload"' not in page
    saved = client.post(
        "/settings/preferences",
        data={"csrf": token, "summary.auto": "on", "ui.theme": "dark", "transcription.language": "de"},
    )
    assert saved.status_code == 200
    values = client.get("/api/settings").json()
    assert values["summary.auto"] is True and values["ui.theme"] == "dark" and values["transcription.language"] == "de"
    assert client.get("/api/notifications/preferences").json()["speakers"] is False  # unticked boxes turn kinds off
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


def test_account_changes_need_the_current_password_for_email_and_password(client: Any) -> None:
    token = sign_up(client, "pat@example.com")
    renamed = client.post(
        "/settings/account", data={"csrf": token, "full_name": "Patricia", "email": "pat@example.com"}
    )
    assert renamed.status_code == 200 and 'value="Patricia"' in renamed.text
    moved = {"csrf": token, "full_name": "Patricia", "email": "pat@example.org"}
    refused = client.post("/settings/account", data=moved)
    assert refused.status_code == 409 and "current password" in refused.text.lower()  # as PUT /api/users/me
    wrong = client.post("/settings/account", data={**moved, "current_password": "not it at all"})
    assert wrong.status_code == 409 and client.get("/api/users/me").json()["email"] == "pat@example.com"
    done = client.post(
        "/settings/account", data={**moved, "current_password": PAGE_PASSWORD, "password": "new pass 99"}
    )
    assert done.status_code == 200 and client.get("/api/users/me").json()["email"] == "pat@example.org"
    client.post("/signout", data={"csrf": csrf_in(done.text)})
    signed = client.post(
        "/signin",
        data={"csrf": csrf_in(client.get("/signin").text), "email": "pat@example.org", "password": "new pass 99"},
        follow_redirects=False,
    )
    assert signed.status_code == 303


def test_admin_edits_users_and_cleans_up_unused_tags(client: Any, fresh_url: str) -> None:
    sign_up(client, "other@example.com")
    client.cookies.clear()
    sign_up(client, "root@example.com")
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        conn.execute("UPDATE users SET role = 'admin' WHERE email = 'root@example.com'")
        conn.execute("INSERT INTO tags (name) VALUES ('stale'), ('old')")
    page = client.get("/admin").text
    token = csrf_in(page)
    assert re.search(
        r"No file carries these tags: <span class=\"tag\">old</span> <span class=\"tag\">stale</span>", page
    )
    other = next(u for u in client.get("/api/admin/users").json() if u["email"] == "other@example.com")
    edited = client.post(
        f"/admin/users/{other['uuid']}",
        data={"csrf": token, "full_name": "Olive", "role": "admin", "password": "reset pass 1"},
    )
    assert edited.status_code == 200
    after = next(u for u in client.get("/api/admin/users").json() if u["email"] == "other@example.com")
    assert (after["full_name"], after["role"], after["is_active"]) == ("Olive", "admin", False)  # box left unticked
    me = next(u for u in client.get("/api/admin/users").json() if u["email"] == "root@example.com")
    myself = client.post(f"/admin/users/{me['uuid']}", data={"csrf": token, "full_name": "Root", "role": "user"})
    assert myself.status_code == 409 and "You cannot demote or deactivate yourself" in myself.text
    short = client.post(f"/admin/users/{other['uuid']}", data={"csrf": token, "is_active": "on", "password": "x"})
    assert short.status_code == 422 and "password" in short.text.lower()
    cleaned = client.post("/admin/tags/unused/delete", data={"csrf": token})
    assert cleaned.status_code == 200 and "Every tag is on some file." in cleaned.text
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM tags").fetchone() == (0,)


def test_upload_page_offers_speaker_hints_and_url_import(client: Any) -> None:
    sign_up(client)
    page = client.get("/upload").text
    names = re.findall(r'<input id="(\w+)" name="\1" type="number" min="1" max="100"', page)
    assert names == ["num_speakers", "min_speakers", "max_speakers"]
    assert '<form id="url-form"' in page and 'name="url" type="url"' in page


def test_the_settings_page_guards_an_llm_base_url_like_the_api(app_settings: Settings) -> None:
    """With OPENTR_LLM_ALLOW_PRIVATE=0 the page refuses a server on this machine's networks, as the JSON route does
    (both go through web.llm_configs.create): nothing is saved."""
    from starlette.testclient import TestClient

    from web.app import create_app

    guarded = app_settings.model_copy(update={"opentr_llm_allow_private": False})
    with TestClient(create_app(guarded)) as client:
        token = sign_up(client)
        refused = client.post(
            "/settings/llm",
            data={
                "csrf": token,
                "name": "Sneaky",
                "provider": "custom",
                "model_name": "m1",
                "base_url": "http://127.0.0.1:11434/v1",
            },
        )
        assert refused.status_code == 422 and "base url" in refused.text.lower().replace("_", " ")
        assert client.get("/api/llm-configs").json() == []
