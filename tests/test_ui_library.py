"""The library page (web/ui/library.py): filters, status badges, keyset "load more" as a page and as a fragment."""

from __future__ import annotations

import html
import re
from typing import Any

import psycopg

from tests import factories
from tests.web import actor_of, sign_up


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
