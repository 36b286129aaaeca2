"""Concurrent edits lose nothing: If-Match on a segment's and a file's PUT, 412 with the current resource.

Two editors are one user with two tokens (two sessions of the same person, or two people once files are shared):
both read the same version, both write with it; exactly one write wins, the other is told what is stored now.
"""

from __future__ import annotations

import secrets
import threading
from typing import Any

import psycopg
import pytest

from tests import factories
from tests.web import actor_of
from web.files import FileOut
from web.transcripts import SegmentOut

JAPANESE = "今日は会議です。よろしくお願いします"
ARABIC = "مرحبا بكم في الاجتماع"
EMOJI = "Zusammenfassung 🎉👩‍💻 fertig"
PASSWORD = "correct horse 1"


def two_sessions(client: Any) -> tuple[dict[str, str], dict[str, str]]:
    """One user signed in twice: two tokens, as two browsers or two scripts of the same person hold."""
    email = f"{secrets.token_hex(5)}@example.com"
    created = client.post("/api/auth/register", json={"email": email, "password": PASSWORD, "full_name": "Aiko"})
    assert created.status_code == 201, created.text
    tokens = []
    for _ in range(2):
        token = client.post("/api/auth/token", data={"username": email, "password": PASSWORD})
        assert token.status_code == 200, token.text
        tokens.append({"Authorization": f"Bearer {token.json()['access_token']}"})
    assert tokens[0] != tokens[1]
    return tokens[0], tokens[1]


def a_segment(client: Any, url: str, headers: dict[str, str]) -> tuple[str, str]:
    """A file of the user's with one segment: (file uuid, segment uuid)."""
    owner = actor_of(client, url, headers)
    with psycopg.connect(url, autocommit=True) as conn:
        file_id, file_uuid = factories.media_file(conn, owner, status="completed", title=JAPANESE)
        factories.segments(conn, file_id, ["original words"])
    listed = client.get(f"/api/files/{file_uuid}/transcript", headers=headers)
    assert listed.status_code == 200, listed.text
    return str(file_uuid), listed.json()[0]["uuid"]


def stored_text(url: str, segment_uuid: str) -> str:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT text FROM transcript_segments WHERE uuid = %s", [segment_uuid]).fetchone()
    assert row is not None
    return str(row[0])


def test_the_second_stale_segment_edit_is_refused_with_the_current_segment(client: Any, fresh_url: str) -> None:
    first, second = two_sessions(client)
    file_uuid, segment_uuid = a_segment(client, fresh_url, first)
    path = f"/api/files/{file_uuid}/transcript/segments/{segment_uuid}"
    read_first, read_second = client.get(path, headers=first), client.get(path, headers=second)
    assert read_first.status_code == read_second.status_code == 200
    assert read_first.headers["etag"] == read_second.headers["etag"] == '"v1"'
    assert read_first.json()["version"] == 1

    won = client.put(path, json={"text": ARABIC}, headers={**first, "If-Match": read_first.headers["etag"]})
    lost = client.put(path, json={"text": EMOJI}, headers={**second, "If-Match": read_second.headers["etag"]})

    assert won.status_code == 200, won.text
    assert won.headers["etag"] == '"v2"' and won.json()["text"] == ARABIC and won.json()["version"] == 2
    assert lost.status_code == 412, lost.text
    body = lost.json()
    assert "changed since you read it" in body["detail"] and body["field"] is None
    assert body["current"] == won.json()  # the whole current segment, as a GET shows it
    SegmentOut.model_validate(body["current"])
    assert lost.headers["etag"] == '"v2"'
    assert stored_text(fresh_url, segment_uuid) == ARABIC
    # The loser retries with what it was given: now it wins.
    retried = client.put(path, json={"text": EMOJI}, headers={**second, "If-Match": lost.headers["etag"]})
    assert retried.status_code == 200 and retried.json()["text"] == EMOJI and retried.headers["etag"] == '"v3"'
    listed = client.get(f"/api/files/{file_uuid}/transcript", headers=first).json()
    assert [(s["text"], s["version"]) for s in listed] == [(EMOJI, 3)]


def test_the_second_stale_title_edit_is_refused_with_the_current_file(client: Any, fresh_url: str) -> None:
    first, second = two_sessions(client)
    file_uuid, _ = a_segment(client, fresh_url, first)
    path = f"/api/files/{file_uuid}"
    read_first, read_second = client.get(path, headers=first), client.get(path, headers=second)
    assert read_first.headers["etag"] == read_second.headers["etag"] == '"v1"'
    assert read_first.json()["version"] == 1 and read_first.json()["title"] == JAPANESE

    won = client.put(path, json={"title": EMOJI}, headers={**second, "If-Match": read_second.headers["etag"]})
    lost = client.put(path, json={"title": ARABIC}, headers={**first, "If-Match": read_first.headers["etag"]})

    assert won.status_code == 200 and won.headers["etag"] == '"v2"' and won.json()["title"] == EMOJI
    assert lost.status_code == 412, lost.text
    current = lost.json()["current"]
    FileOut.model_validate(current)
    assert current["title"] == EMOJI and current["version"] == 2 and lost.json()["field"] is None
    assert client.get(path, headers=first).json()["title"] == EMOJI


def test_without_if_match_or_with_a_star_the_last_write_wins(client: Any, fresh_url: str) -> None:
    first, second = two_sessions(client)
    file_uuid, segment_uuid = a_segment(client, fresh_url, first)
    path = f"/api/files/{file_uuid}/transcript/segments/{segment_uuid}"
    assert client.put(path, json={"text": ARABIC}, headers=first).json()["version"] == 2
    assert client.put(path, json={"text": JAPANESE}, headers=second).json()["version"] == 3
    starred = client.put(path, json={"text": EMOJI}, headers={**first, "If-Match": "*"})
    assert starred.status_code == 200 and starred.json()["version"] == 4
    assert stored_text(fresh_url, segment_uuid) == EMOJI
    titled = client.put(f"/api/files/{file_uuid}", json={"title": ARABIC}, headers={**second, "If-Match": "*"})
    assert titled.status_code == 200 and titled.json()["title"] == ARABIC and titled.headers["etag"] == '"v2"'
    # One of several tags matching is enough.
    listed = client.put(path, json={"text": JAPANESE}, headers={**first, "If-Match": '"v9", "v4"'})
    assert listed.status_code == 200 and listed.json()["version"] == 5


@pytest.mark.parametrize("header", ["v1", 'W/"v1"', '"1"', "", '"v0"', '"v99999999999"', "garbage ✓".encode()])
def test_a_malformed_or_weak_if_match_matches_nothing(client: Any, fresh_url: str, header: str | bytes) -> None:
    first, _ = two_sessions(client)
    file_uuid, segment_uuid = a_segment(client, fresh_url, first)
    path = f"/api/files/{file_uuid}/transcript/segments/{segment_uuid}"
    refused = client.put(path, json={"text": ARABIC}, headers={**first, "If-Match": header})
    assert refused.status_code == 412, refused.text
    assert refused.json()["current"]["text"] == "original words" and refused.json()["current"]["version"] == 1
    assert stored_text(fresh_url, segment_uuid) == "original words"
    on_file = client.put(f"/api/files/{file_uuid}", json={"title": EMOJI}, headers={**first, "If-Match": header})
    assert on_file.status_code == 412 and on_file.json()["current"]["title"] == JAPANESE


def test_another_users_segment_is_not_found_whatever_the_if_match(client: Any, fresh_url: str) -> None:
    owner, _ = two_sessions(client)
    stranger, _ = two_sessions(client)
    file_uuid, segment_uuid = a_segment(client, fresh_url, owner)
    path = f"/api/files/{file_uuid}/transcript/segments/{segment_uuid}"
    for header in ('"v1"', '"v7"', "*"):
        assert client.put(path, json={"text": EMOJI}, headers={**stranger, "If-Match": header}).status_code == 404
        assert (
            client.put(
                f"/api/files/{file_uuid}", json={"title": EMOJI}, headers={**stranger, "If-Match": header}
            ).status_code
            == 404
        )
    assert client.get(path, headers=stranger).status_code == 404
    assert stored_text(fresh_url, segment_uuid) == "original words"


def race(
    client: Any, path: str, field: str, etag: str, writes: dict[str, tuple[dict[str, str], str]]
) -> dict[str, Any]:
    """Each writer's PUT of its text with the same If-Match, released together from its own thread."""
    start = threading.Barrier(len(writes))
    answers: dict[str, Any] = {}

    def write(name: str, headers: dict[str, str], text: str) -> None:
        start.wait()
        answers[name] = client.put(path, json={field: text}, headers={**headers, "If-Match": etag})

    threads = [threading.Thread(target=write, args=(name, *how)) for name, how in writes.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


@pytest.mark.parametrize("resource", ["segment", "file"])
def test_two_writers_racing_with_the_same_version_give_exactly_one_winner(
    client: Any, fresh_url: str, resource: str
) -> None:
    """Through the real app and database, released together: the UPDATE that checks the version is the only
    guard, so however the two requests interleave, one of them matches nothing."""
    first, second = two_sessions(client)
    file_uuid, segment_uuid = a_segment(client, fresh_url, first)
    path = f"/api/files/{file_uuid}" + (f"/transcript/segments/{segment_uuid}" if resource == "segment" else "")
    field = "text" if resource == "segment" else "title"
    for round_number in range(5):
        etag = client.get(path, headers=first).headers["etag"]
        texts = {"first": f"{ARABIC} {round_number}", "second": f"{JAPANESE} {round_number}"}
        answers = race(
            client, path, field, etag, {"first": (first, texts["first"]), "second": (second, texts["second"])}
        )
        statuses = sorted(answer.status_code for answer in answers.values())
        assert statuses == [200, 412], {name: answer.text for name, answer in answers.items()}
        winner = next(name for name, answer in answers.items() if answer.status_code == 200)
        loser = next(answer for answer in answers.values() if answer.status_code == 412)
        assert loser.json()["current"][field] == texts[winner]
        assert client.get(path, headers=second).json()[field] == texts[winner]
