"""The file page and its forms (web/ui/media.py), through the app with a signed-in browser session, no browser.

What the browser journey does not click: timed words, stale words after a correction, merges, suggestions, tags,
comments at a time, collections, and the no-script segment edit.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg
import pytest

from repo.rows import Actor
from repo.segments import NewSegment, SegmentRepository
from tests import factories
from tests.web import actor_of, sign_up


@pytest.fixture
def signed_in(client: Any, fresh_url: str) -> tuple[str, Actor]:
    token = sign_up(client)
    return token, actor_of(client, fresh_url, {})


def transcribed_file(conninfo: str, owner: Actor) -> str:
    words = [{"word": "Hello", "start": 0.1, "end": 0.4}, {"word": "there", "start": 0.6, "end": 0.9}]
    with psycopg.connect(conninfo, autocommit=True) as conn, conn.transaction():
        file_id, file_uuid = factories.media_file(conn, owner, status="completed", duration=4.0)
        SegmentRepository(conn).replace_transcript(
            file_id,
            [
                NewSegment(0.0, 1.0, "Hello there", "SPEAKER_00", words),
                NewSegment(1.0, 4.0, "General Kenobi", "SPEAKER_01"),
            ],
        )
    return str(file_uuid)


def ids(html: str, pattern: str) -> list[str]:
    return re.findall(pattern, html)


def test_timed_words_seek_until_the_text_is_corrected(client: Any, fresh_url: str, signed_in: Any) -> None:
    token, owner = signed_in
    file_uuid = transcribed_file(fresh_url, owner)
    page = client.get(f"/files/{file_uuid}").text
    assert '<span class="word" data-seek="0.1">Hello</span> <span class="word" data-seek="0.6">there</span>' in page
    segment = client.get(f"/api/files/{file_uuid}/transcript").json()[0]["uuid"]
    edited = client.post(
        f"/files/{file_uuid}/segments/{segment}", data={"csrf": token, "text": "Hello you"}, follow_redirects=False
    )
    assert edited.status_code == 303 and edited.headers["location"] == f"/files/{file_uuid}#seg-{segment}"
    page = client.get(f"/files/{file_uuid}").text
    assert 'class="word"' not in page and ">Hello you</p>" in page


def test_rename_merge_and_suggestions(client: Any, fresh_url: str, signed_in: Any) -> None:
    token, owner = signed_in
    file_uuid = transcribed_file(fresh_url, owner)
    speakers = {s["label"]: s["uuid"] for s in client.get(f"/api/files/{file_uuid}/speakers").json()}
    first, second = speakers["SPEAKER_00"], speakers["SPEAKER_01"]
    renamed = client.post(f"/files/{file_uuid}/speakers/{first}", data={"csrf": token, "display_name": "Obi-Wan"})
    assert renamed.status_code == 200 and 'value="Obi-Wan"' in renamed.text
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        conn.execute("UPDATE speakers SET suggested_name = 'Grievous', confidence = 0.9 WHERE uuid = %s", [second])
    page = client.get(f"/files/{file_uuid}").text
    assert "Suggested: <strong>Grievous</strong> (90 %)" in page
    client.post(f"/files/{file_uuid}/speakers/{second}", data={"csrf": token, "action": "accept"})
    names = [s["speaker_name"] for s in client.get(f"/api/files/{file_uuid}/transcript").json()]
    assert names == ["Obi-Wan", "Grievous"]
    assert "Suggested:" not in client.get(f"/files/{file_uuid}").text
    merged = client.post(f"/files/{file_uuid}/speakers-merge", data={"csrf": token, "source": second, "target": first})
    assert merged.status_code == 200
    names = [s["speaker_name"] for s in client.get(f"/api/files/{file_uuid}/transcript").json()]
    assert names == ["Obi-Wan", "Obi-Wan"]
    # merging a speaker into itself is a sentence, not a 500
    refused = client.post(f"/files/{file_uuid}/speakers-merge", data={"csrf": token, "source": first, "target": first})
    assert refused.status_code == 422 and "A speaker cannot be merged into itself." in refused.text


def test_tags_comments_and_collections(client: Any, fresh_url: str, signed_in: Any) -> None:
    token, owner = signed_in
    file_uuid = transcribed_file(fresh_url, owner)
    client.post(f"/files/{file_uuid}/tags", data={"csrf": token, "name": "meetings"})
    client.post(f"/files/{file_uuid}/comments", data={"csrf": token, "text": "Here", "timestamp": "2.25"})
    empty = client.post(f"/files/{file_uuid}/comments", data={"csrf": token, "text": "  "})
    assert empty.status_code == 422 and "Comment: please fill this in." in empty.text
    client.post("/collections/new", data={"csrf": token, "name": "Star wars"})
    [collection] = client.get("/api/collections").json()
    client.post(f"/files/{file_uuid}/collections", data={"csrf": token, "collection": collection["uuid"]})
    detail = client.get(f"/api/files/{file_uuid}").json()
    assert detail["tags"] == ["meetings"] and [c["name"] for c in detail["collections"]] == ["Star wars"]
    [comment] = client.get(f"/api/files/{file_uuid}/comments").json()
    assert (comment["text"], comment["timestamp"]) == ("Here", 2.25)
    page = client.get(f"/files/{file_uuid}").text
    assert 'data-seek="2.25" aria-label="Play from 0:02"' in page
    client.post(f"/files/{file_uuid}/tags/remove", data={"csrf": token, "name": "meetings"})
    assert client.get(f"/api/files/{file_uuid}").json()["tags"] == []
    library = client.get(f"/?collection={collection['uuid']}").text
    assert f'href="/files/{file_uuid}"' in library
