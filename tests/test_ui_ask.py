"""The Ask box and the Ask page (web/ui/ask.py, templates/_ask.html), through the app with a signed-in browser
session, no browser: the box is on the file, collection and Ask pages, aimed at POST /api/ask with what it asks
about; the session's own call to the API is accepted (cookie + CSRF header, as /static/ask.js sends it); the history
lists one's questions with their cited moments, and deletes one or all. The streaming in a real browser:
tests/test_ui_ask_browser.py."""

from __future__ import annotations

import re
from typing import Any

import psycopg
import pytest

from repo.rows import Actor
from tests import factories
from tests.web import actor_of, csrf_in, sign_up


@pytest.fixture
def signed_in(client: Any, fresh_url: str) -> tuple[str, Actor]:
    token = sign_up(client)
    return token, actor_of(client, fresh_url, {})


def box(html: str) -> str:
    found = re.search(r'<form class="ask-form[^>]*>', html)
    assert found, html[:3000]
    return found.group(0)


def a_question(conninfo: str, owner: Actor, file_id: int, file_uuid: str, text: str) -> str:
    citation = (
        f'[{{"number": 1, "file_uuid": "{file_uuid}", "title": "会議 🎙️", "start_time": 65.5, "end_time": 70, '
        '"text": "予算は削減された"}]'
    )
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO questions (user_id, scope, media_file_id, question, answer, citations, provider, model_name) "
            "VALUES (%s, 'file', %s, %s, 'تم تخفيض الميزانية [1] 🎉', %s, 'custom', 'stand-in') RETURNING uuid",
            [owner.id, file_id, text, citation],
        ).fetchone()
    assert row is not None
    return str(row[0])


def test_the_ask_box_is_on_the_file_collection_and_ask_pages(client: Any, fresh_url: str, signed_in: Any) -> None:
    token, owner = signed_in
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        _, file_uuid = factories.media_file(conn, owner, status="completed", title="会議 🎙️")
    collection = client.post("/api/collections", headers={"X-CSRF-Token": token}, json={"name": "Q3"})
    assert collection.status_code == 201, collection.text
    collection_uuid = collection.json()["uuid"]

    file_page = client.get(f"/files/{file_uuid}").text
    assert f'data-file="{file_uuid}"' in box(file_page) and 'data-ask-api="/api/ask"' in box(file_page)
    assert "data-collection" not in box(file_page)
    collection_page = client.get(f"/collections/{collection_uuid}").text
    assert f'data-collection="{collection_uuid}"' in box(collection_page) and "data-file" not in box(collection_page)
    ask_page = client.get("/ask")
    assert ask_page.status_code == 200 and "Ask your recordings" in ask_page.text
    assert "data-file" not in box(ask_page.text) and "data-collection" not in box(ask_page.text)
    for html in (file_page, collection_page, ask_page.text):
        assert '<script type="module" src="/static/ask.js"></script>' in html
        assert 'id="ask-question" name="question" rows="2" required maxlength="2000"' in html
    assert '<a href="/ask"' in ask_page.text, "the header links to the Ask page"
    assert client.get("/static/ask.js").status_code == 200

    # What the box posts: the session's call to the API, with the CSRF header. Without an LLM it says so.
    refused = client.post(
        "/api/ask", headers={"X-CSRF-Token": token}, json={"question": "Budget?", "file_uuid": str(file_uuid)}
    )
    assert refused.status_code == 409 and "no LLM is configured" in refused.json()["detail"]
    assert client.post("/api/ask", json={"question": "Budget?"}).status_code == 403, "no CSRF header: refused"


def test_the_history_shows_cited_moments_and_deletes_one_or_all(client: Any, fresh_url: str, signed_in: Any) -> None:
    _, owner = signed_in
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        file_id, file_uuid = factories.media_file(conn, owner, status="completed", title="会議 🎙️")
    first = a_question(fresh_url, owner, file_id, str(file_uuid), "ما الذي تقرر؟ 🤔")
    second = a_question(fresh_url, owner, file_id, str(file_uuid), "Was wurde beschlossen?")
    page = client.get("/ask").text
    assert page.index("Was wurde beschlossen?") < page.index("ما الذي تقرر؟ 🤔"), "newest first"
    assert f'href="/files/{file_uuid}?t=65.5"' in page and "予算は削減された" in page and "1:05" in page
    assert "تم تخفيض الميزانية [1] 🎉" in page

    deleted = client.post(f"/ask/questions/{second}/delete", data={"csrf": csrf_in(page)}, follow_redirects=False)
    assert deleted.status_code == 303 and deleted.headers["location"] == "/ask"
    page = client.get("/ask").text
    assert "Was wurde beschlossen?" not in page and f'id="q-{first}"' in page
    gone = client.post(f"/ask/questions/{second}/delete", data={"csrf": csrf_in(page)})
    assert gone.status_code == 404
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        other = factories.user(conn)
        other_file, other_file_uuid = factories.media_file(conn, other, status="completed")
    theirs = a_question(fresh_url, other, other_file, str(other_file_uuid), "Someone else's 🔒")
    assert client.post(f"/ask/questions/{theirs}/delete", data={"csrf": csrf_in(page)}).status_code == 404
    assert "Someone else's 🔒" not in client.get("/ask").text
    cleared = client.post("/ask/questions/delete", data={"csrf": csrf_in(page)}, follow_redirects=False)
    assert cleared.status_code == 303
    assert "No questions yet." in client.get("/ask").text
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        left = conn.execute("SELECT question FROM questions").fetchall()
    assert left == [("Someone else's 🔒",)], "deleting all of one's own leaves others' questions alone"
