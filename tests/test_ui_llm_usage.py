"""LLM costs and limits on the pages (web/ui/llm_usage.py): an administrator sets the limits with the admin page's
forms (audited, as through the API), and a person's settings page shows their use today, the limit and what
remains."""

from __future__ import annotations

import html
import re
from typing import Any

import psycopg
from starlette.testclient import TestClient

from tests.web import csrf_in, sign_up


def person_id(url: str, email: str) -> tuple[int, str]:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT id, uuid::text FROM users WHERE email = %s", [email]).fetchone()
    assert row is not None
    return row[0], row[1]


def spend(url: str, user_id: int, purpose: str, tokens_in: int, tokens_out: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO llm_usage (user_id, purpose, provider, model_name, input_tokens, output_tokens, reported, "
            "latency_ms) VALUES (%s, %s, 'custom', 'stand-in', %s, %s, true, 10)",
            [user_id, purpose, tokens_in, tokens_out],
        )


def panel(page: str) -> str:
    found = re.search(r"<section id=\"llm-usage\".*?</section>", page, re.S)
    assert found, page[:2000]
    return html.unescape(re.sub(r"</?strong[^>]*>", "", " ".join(found.group(0).split())))  # figures in <strong>


def test_an_admin_sets_limits_with_the_forms_and_the_person_sees_them(client: Any, fresh_url: str) -> None:
    boss_csrf = sign_up(client, "boss@example.com")
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        conn.execute("UPDATE users SET role = 'admin' WHERE email = 'boss@example.com'")
    person = TestClient(client.app)
    sign_up(person, "ユーザー-pat@example.com")
    pat_id, pat_uuid = person_id(fresh_url, "ユーザー-pat@example.com")

    mine = panel(person.get("/settings").text)
    assert "You used 0 tokens today; no daily limit applies." in mine
    assert "No requests to a language model today." in mine and "00:00 UTC" in mine

    admin_page = client.get("/admin")
    assert admin_page.status_code == 200 and 'id="llm-limits"' in admin_page.text
    csrf = csrf_in(admin_page.text)
    assert csrf == boss_csrf
    saved = client.post("/admin/llm-limit", data={"csrf": csrf, "daily_tokens": "50,000"})
    assert saved.status_code == 200 and 'value="50000"' in saved.text
    spend(fresh_url, pat_id, "question", 1200, 300)
    spend(fresh_url, pat_id, "topics", 4000, 500)
    mine = panel(person.get("/settings").text)
    assert "You used 6,000 of your 50,000 tokens today (the server's limit for everyone); 44,000 remain." in mine
    assert "<td>Questions about your recordings</td><td>1</td><td>1,200</td><td>300</td>" in mine
    assert "<td>Topics</td><td>1</td><td>4,000</td><td>500</td>" in mine

    own = client.post(f"/admin/users/{pat_uuid}/llm-limit", data={"csrf": csrf, "daily_tokens": "8000"})
    assert own.status_code == 200
    row = re.search(rf'<tr data-llm-user="{pat_uuid}">.*?</tr>', own.text, re.S)
    assert row and "6,000" in row.group(0) and 'value="8000"' in row.group(0)
    mine = panel(person.get("/settings").text)
    assert "You used 6,000 of your 8,000 tokens today (set for you); 2,000 remain." in mine
    assert person.get("/api/users/me/llm-usage").json()["remaining"] == 2000

    cleared = client.post(f"/admin/users/{pat_uuid}/llm-limit", data={"csrf": csrf, "daily_tokens": ""})
    assert cleared.status_code == 200
    assert "(the server's limit for everyone); 44,000 remain." in panel(person.get("/settings").text)
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        trail = conn.execute(
            "SELECT object_type, details->>'to' FROM audit_log WHERE action = 'settings.update' ORDER BY id"
        ).fetchall()
    assert trail == [("llm", "50000"), ("user", "8000"), ("user", None)]


def test_a_limit_that_is_not_a_number_is_refused_on_the_page_and_a_person_cannot_set_one(
    client: Any, fresh_url: str
) -> None:
    sign_up(client, "boss2@example.com")
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        conn.execute("UPDATE users SET role = 'admin' WHERE email = 'boss2@example.com'")
    csrf = csrf_in(client.get("/admin").text)
    for bad in ("-5", "lots", "١٢٣", "10000000000000"):
        refused = client.post("/admin/llm-limit", data={"csrf": csrf, "daily_tokens": bad})
        assert refused.status_code == 422, bad
        assert "Daily token limit: a whole number of tokens" in refused.text and "Traceback" not in refused.text
    assert client.get("/api/admin/llm-limit").json() == {"daily_tokens": None}
    person = TestClient(client.app)
    person_csrf = sign_up(person)
    _, uuid = person_id(fresh_url, "boss2@example.com")
    assert person.post("/admin/llm-limit", data={"csrf": person_csrf, "daily_tokens": "5"}).status_code == 403
    denied = person.post(f"/admin/users/{uuid}/llm-limit", data={"csrf": person_csrf, "daily_tokens": "5"})
    assert denied.status_code == 403
    assert client.get("/api/admin/llm-limit").json() == {"daily_tokens": None}
