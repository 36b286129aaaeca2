"""The library page (web/ui/library.py): filters, status badges, keyset "load more" as a page and as a fragment."""

from __future__ import annotations

import html
import re
from typing import Any

import psycopg

from tests import factories
from tests.web import actor_of, csrf_in, sign_up


def test_load_more_pages_through_every_file_once(client: Any, fresh_url: str) -> None:
    sign_up(client)
    owner = actor_of(client, fresh_url, {})
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        made = {str(factories.media_file(conn, owner, filename=f"f{i:02}.wav")[1]) for i in range(30)}
    first = client.get("/").text
    shown = re.findall(r'data-file="([0-9a-f-]{36})"', first)
    more = re.search(r'data-role="more" href="/([^"]+)"', first)
    assert len(shown) == 25 and more is not None
    rest = client.get(f"/library/rows{html.unescape(more.group(1))}")
    assert rest.status_code == 200 and "<html" not in rest.text  # a fragment for the script to append
    shown += re.findall(r'data-file="([0-9a-f-]{36})"', rest.text)
    assert 'data-role="more"' not in rest.text
    assert len(shown) == 30 and set(shown) == made


def test_filters_and_badges(client: Any, fresh_url: str) -> None:
    sign_up(client)
    owner = actor_of(client, fresh_url, {})
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        _, done = factories.media_file(conn, owner, filename="done.wav", status="completed", progress=1.0)
        _, failed = factories.media_file(conn, owner, filename="broken.wav", status="error")
    page = client.get("/").text
    assert '<span class="badge status-completed" data-role="badge">completed</span>' in page
    assert '<span class="badge status-error" data-role="badge">error</span>' in page
    only_errors = client.get("/?status=error").text
    assert str(failed) in only_errors and str(done) not in only_errors
    by_name = client.get("/?q=done").text
    assert str(done) in by_name and str(failed) not in by_name
    assert "No files match these filters." in client.get("/?q=nothing-like-it").text
    # an unknown status is ignored rather than an error page
    assert client.get("/?status=bogus").status_code == 200


def test_the_api_filters_from_the_library_form(client: Any, fresh_url: str) -> None:
    sign_up(client)
    owner = actor_of(client, fresh_url, {})
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        long_id, long = factories.media_file(
            conn, owner, filename="long.wav", status="completed", duration=900.0, upload_time="2026-03-01T10:00Z"
        )
        _, short = factories.media_file(
            conn, owner, filename="short.mp4", content_type="video/mp4", duration=60.0, upload_time="2026-03-05T10:00Z"
        )
        factories.segments(conn, long_id, ["the quarterly budget"], speaker_id=factories.speaker(conn, owner, long_id))
        conn.execute("UPDATE speakers SET display_name = 'Ann' WHERE media_file_id = %s", [long_id])
    token = csrf_in(client.get("/").text)
    for uuid, tags in ((long, "a,b"), (short, "b")):
        for tag in tags.split(","):
            client.post(f"/files/{uuid}/tags", data={"csrf": token, "name": tag})

    def shown(query: str) -> list[str]:
        page = client.get(f"/?{query}")
        assert page.status_code == 200, page.text
        return [
            {str(long): "long", str(short): "short"}[u] for u in re.findall(r'data-file="([0-9a-f-]{36})"', page.text)
        ]

    assert shown("") == ["short", "long"]  # newest first
    assert shown("sort=duration") == ["long", "short"] and shown("sort=title&order=desc") == ["short", "long"]
    assert shown("tags=a&tags=b") == ["long"] and shown("tags=a&tags=b&tags_mode=any") == ["short", "long"]
    assert shown("speaker=Ann") == ["long"] and shown("transcript=budget") == ["long"]
    assert shown("media_type=video") == ["short"] and shown("longer_than=5") == ["long"]
    assert shown("shorter_than=5") == ["short"]
    assert shown("uploaded_from=2026-03-02") == ["short"] and shown("uploaded_to=2026-03-01") == ["long"]
    assert shown("status=completed,error") == ["long"]
    page = client.get("/?speaker=Ann").text
    assert '<option value="Ann" selected>Ann (1)</option>' in page  # the choices come from GET /api/files/filters
    assert re.search(r'<input type="checkbox" name="tags" value="b" *> b <span class="hint">\(2\)</span>', page)
    checked = client.get("/?tags=b").text  # the tag filter's check boxes keep what was chosen
    assert re.search(r'<input type="checkbox" name="tags" value="b" checked> b', checked)
    refused = client.get("/?uploaded_from=yesterday")
    assert refused.status_code == 422 and "Uploaded from: a date like 2026-01-31." in refused.text
    refused = client.get("/?longer_than=9&shorter_than=1")
    assert refused.status_code == 422 and "Shorter than: more minutes than in longer than, please." in refused.text


def test_an_empty_library_shows_no_filters_until_there_is_something_to_filter(client: Any, fresh_url: str) -> None:
    sign_up(client)
    empty = client.get("/").text
    assert 'class="filters"' not in empty and 'id="bulk"' not in empty and "Nothing here yet" in empty
    filtered = client.get("/?q=Müller").text  # filters on, nothing found: the form stays to change them
    assert 'class="filters"' in filtered and "No files match these filters" in filtered
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        factories.media_file(conn, actor_of(client, fresh_url, {}), filename="会議 🎙️ Müller.wav")
    page = client.get("/").text
    assert 'class="filters"' in page and 'id="f-tags"' not in page, "no tags yet: no tag filter either"
    assert '<option value="" selected>choose an action…</option>' in page, "the bulk actions start on none"
