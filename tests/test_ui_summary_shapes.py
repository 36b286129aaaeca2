"""The file page shows each summary in its shape (BLUF, JSON as nested lists, Markdown rendered safely) with its
language and tokens; the settings page writes prompts of every shape and states a model's context window."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from repo.rows import Actor
from repo.summaries import SummaryRepository
from tests import factories
from tests.web import sign_up
from web.ui.summary_shapes import markdown_html

MARKDOWN = (
    "# 会議の要約\n\nThe release moves to the **12日** 🚀, *finally*.\n\n"
    "- مرحبا <script>alert('x')</script>\n- Größe: `<b>bold?</b>`\n\n1. first\n2. second"
)


@pytest.mark.same_on_every_server
def test_markdown_is_escaped_first_and_only_a_small_subset_becomes_markup() -> None:
    html = str(markdown_html(MARKDOWN))
    assert html.splitlines() == [
        "<h3>会議の要約</h3>",
        "<p>The release moves to the <strong>12日</strong> 🚀, <em>finally</em>.</p>",
        "<ul>",
        "<li>مرحبا &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;</li>",
        "<li>Größe: <code>&lt;b&gt;bold?&lt;/b&gt;</code></li>",
        "</ul>",
        "<ol>",
        "<li>first</li>",
        "<li>second</li>",
        "</ol>",
    ]
    attack = str(markdown_html('<img src=x onerror="alert(1)"> [a](javascript:alert(1)) **<i>x</i>**'))
    assert "<img" not in attack and "<i>" not in attack and "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in attack


def me(client: Any, conninfo: str) -> Actor:
    uuid = client.get("/api/users/me").json()["uuid"]
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute("SELECT id FROM users WHERE uuid = %s", (uuid,)).fetchone()
    assert row is not None
    return Actor(row[0])


def test_the_file_page_shows_each_summary_in_its_shape(client: Any, fresh_url: str) -> None:
    sign_up(client)
    owner = me(client, fresh_url)
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        file_id, file_uuid = factories.media_file(conn, owner, status="completed", language="ja")
        summaries = SummaryRepository(conn)
        bluf = summaries.create_pending(owner, file_id, None, None, "openai", "m", "bluf", "en")
        summaries.start(bluf.id)
        summaries.complete(bluf.id, "Ship on the <12th>.", "Brief.", ["release"], [], [], [], "raw", 812, 143, 5)
        shaped = summaries.create_pending(owner, file_id, None, None, "openai", "m", "json", "ar")
        summaries.start(shaped.id)
        content = {"owner": "<b>Bob</b>", "decisions": ["ship", {"when": "الثاني عشر"}]}
        summaries.complete(shaped.id, None, None, [], [], [], [], "raw", 500, 45, 5, content=content)
        notes = summaries.create_pending(owner, file_id, None, None, "openai", "m", "markdown", "ja")
        summaries.start(notes.id)
        summaries.complete(notes.id, None, None, [], [], [], [], "raw", 100, 20, 5, markdown=MARKDOWN)
        summaries.create_pending(owner, file_id, None, None, "openai", "m", "markdown", "de")

    page = client.get(f"/files/{file_uuid}").text

    assert "Ship on the &lt;12th&gt;." in page and "Tokens: 812 in, 143 out" in page
    assert "<dt>owner</dt><dd>&lt;b&gt;Bob&lt;/b&gt;</dd>" in page and "<dd>الثاني عشر</dd>" in page
    assert "<h3>会議の要約</h3>" in page and "<strong>12日</strong> 🚀" in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page and "<script>alert" not in page
    assert "Version 4 · pending" in page and 'data-action="cancel-summary"' in page
    for language in ("English", "Arabic", "Japanese", "German"):
        assert f" · {language} · " in page, language
    assert '<select id="summary-language" name="language">' in page and '<option value="ar">Arabic</option>' in page


def test_the_settings_page_writes_prompts_of_every_shape_and_a_context_window(client: Any) -> None:
    token = sign_up(client)
    schema = '{"type": "object", "properties": {"owner": {"type": "string"}}}'
    made = client.post(
        "/settings/prompts",
        data={
            "csrf": token,
            "name": "Owner",
            "prompt_text": "Who? {transcript}",
            "output_format": "json",
            "output_schema": schema,
        },
    )
    assert made.status_code == 200
    notes = {"csrf": token, "name": "Notes", "prompt_text": "Notes {transcript}", "output_format": "markdown"}
    assert client.post("/settings/prompts", data=notes).status_code == 200
    shapes = {p["name"]: (p["output_format"], p["output_schema"]) for p in client.get("/api/prompts").json()}
    assert shapes["Owner"] == ("json", {"type": "object", "properties": {"owner": {"type": "string"}}})
    assert shapes["Notes"] == ("markdown", None)
    bad = {**notes, "name": "Bad", "output_format": "json", "output_schema": '{"type": "object", "required": 3}'}
    refused = client.post("/settings/prompts", data=bad)
    assert refused.status_code == 422 and "Output schema: /required: 3 is not of type" in refused.text
    broken = client.post("/settings/prompts", data={**bad, "output_schema": "{nope"})
    assert broken.status_code == 422 and "Output schema: not JSON" in broken.text
    assert "Bad" not in [p["name"] for p in client.get("/api/prompts").json()]
    page = client.get("/settings").text
    assert 'Owner</strong> <span class="hint">general, JSON in your schema' in page

    llm = {"csrf": token, "name": "Local", "provider": "openai", "model_name": "m", "context_tokens": "2048"}
    assert client.post("/settings/llm", data=llm).status_code == 200
    assert [c["context_tokens"] for c in client.get("/api/llm-configs").json()] == [2048]
