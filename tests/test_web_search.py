from __future__ import annotations

import html
import re
from typing import Any

import psycopg
import pytest

from repo.rows import Actor
from tests import factories
from tests.web import actor_of, sign_up, signed_in


def transcribed(url: str, owner: Actor, texts: list[str], filename: str = "talk.wav") -> str:
    """A file whose segment i runs from i to i + 0.9 seconds."""
    with psycopg.connect(url, autocommit=True) as conn:
        file_id, file_uuid = factories.media_file(conn, owner, filename=filename, status="completed")
        factories.segments(conn, file_id, texts)
    return str(file_uuid)


def test_search_finds_your_segments_with_times_and_snippets(client: Any, fresh_url: str) -> None:
    alice, alice_actor = signed_in(client, fresh_url)
    bob, bob_actor = signed_in(client, fresh_url)
    mine = transcribed(fresh_url, alice_actor, ["hello", "the <quarterly> budget is ready"], filename="q3.wav")
    transcribed(fresh_url, bob_actor, ["bob's budget is secret"])

    response = client.get("/api/search", headers=alice, params={"q": "budget"})
    assert response.status_code == 200, response.text
    (found,) = response.json()
    assert found["file_uuid"] == mine and found["filename"] == "q3.wav" and "id" not in found
    (hit,) = found["hits"]
    assert hit["kind"] == "segment" and (hit["start_time"], hit["end_time"]) == (1.0, 1.9)
    assert "<mark>budget</mark>" in hit["snippet"] and "&lt;quarterly&gt;" in hit["snippet"]
    assert hit["rank"] > 0 and found["best_rank"] == hit["rank"]
    assert set(hit) == {"kind", "uuid", "start_time", "end_time", "rank", "snippet"}

    assert len(client.get("/api/search", headers=bob, params={"q": "budget"}).json()) == 1
    assert client.get("/api/search", headers=alice, params={"q": "nothing-like-this"}).json() == []


def test_limit_caps_the_number_of_files(client: Any, fresh_url: str) -> None:
    alice, alice_actor = signed_in(client, fresh_url)
    for _ in range(3):
        transcribed(fresh_url, alice_actor, ["the budget"])
    assert len(client.get("/api/search", headers=alice, params={"q": "budget"}).json()) == 3
    assert len(client.get("/api/search", headers=alice, params={"q": "budget", "limit": 2}).json()) == 2


def test_search_needs_a_token(client: Any) -> None:
    assert client.get("/api/search", params={"q": "budget"}).status_code == 401


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "q"),
        ({"q": ""}, "q"),
        ({"q": "x" * 1001}, "q"),
        ({"q": "budget", "limit": 0}, "limit"),
        ({"q": "budget", "limit": 101}, "limit"),
        ({"q": "budget", "limit": "many"}, "limit"),
        ({"q": "budget", "sort": "date"}, "sort"),
        ({"q": "\x00budget"}, "q"),
    ],
)
def test_bad_queries_name_the_field(client: Any, fresh_url: str, params: dict[str, Any], field: str) -> None:
    alice, _ = signed_in(client, fresh_url)
    response = client.get("/api/search", headers=alice, params=params)
    assert response.status_code == 422 and response.json()["field"] == field


@pytest.mark.parametrize("q", ['"unterminated', "-", "a & b | !c", "or or or", "(((", "ä ß 中文"])
def test_odd_queries_are_not_errors(client: Any, fresh_url: str, q: str) -> None:
    alice, alice_actor = signed_in(client, fresh_url)
    transcribed(fresh_url, alice_actor, ["the budget"])
    response = client.get("/api/search", headers=alice, params={"q": q})
    assert response.status_code == 200, response.text


def test_search_takes_the_library_filters_from_the_query_string(client: Any, fresh_url: str) -> None:
    alice, owner = signed_in(client, fresh_url)
    short = transcribed(fresh_url, owner, ["the budget is short"], filename="short.wav")
    long = transcribed(fresh_url, owner, ["the budget is long"], filename="long.wav")
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        conn.execute("UPDATE media_files SET duration = 30 WHERE uuid = %s", [short])
        conn.execute("UPDATE media_files SET duration = 3000, status = 'error' WHERE uuid = %s", [long])
    assert client.post(f"/api/files/{long}/tags", headers=alice, json={"name": "board"}).status_code == 201

    def found(**params: str) -> list[str]:
        response = client.get("/api/search", headers=alice, params={"q": "budget", **params})
        assert response.status_code == 200, response.text
        return sorted(hit["filename"] for hit in response.json())

    assert found() == ["long.wav", "short.wav"]
    assert found(duration_max="60") == ["short.wav"]
    assert found(tags="board,other", tags_mode="any") == ["long.wav"]
    assert found(status="completed") == ["short.wav"]
    assert found(status="completed", tags="board") == []
    refused = client.get("/api/search", headers=alice, params={"q": "budget", "status": "finished"})
    assert (refused.status_code, refused.json()["field"]) == (422, "status")


def test_a_common_word_pages_newest_first_through_the_cursor_header(client: Any, fresh_url: str) -> None:
    alice, alice_actor = signed_in(client, fresh_url)
    _, bob_actor = signed_in(client, fresh_url)
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        for day in range(3):  # 3 files x 60 mentions: more than a page shows (repo.search.COMMON)
            file_id, _ = factories.media_file(
                conn, alice_actor, filename=f"day{day}.wav", status="completed", upload_time=f"2026-01-0{day + 1}"
            )
            factories.segments(conn, file_id, ["I think so, ja wirklich"] * 60)
        bob_file, _ = factories.media_file(conn, bob_actor, filename="bob.wav", status="completed")
        factories.segments(conn, bob_file, ["bob thinks too"] * 200)

    first = client.get("/api/search", headers=alice, params={"q": "think", "limit": 2})
    assert first.status_code == 200, first.text
    assert first.headers["X-Search-Order"] == "newest"
    assert [f["filename"] for f in first.json()] == ["day2.wav", "day1.wav"]
    assert [h["start_time"] for h in first.json()[0]["hits"]] == [0.0, 1.0, 2.0, 3.0, 4.0]
    cursor = first.headers["X-Search-Next-Cursor"]

    rest = client.get("/api/search", headers=alice, params={"q": "think", "limit": 2, "cursor": cursor})
    assert rest.status_code == 200, rest.text
    assert (rest.headers["X-Search-Order"], [f["filename"] for f in rest.json()]) == ("newest", ["day0.wav"])
    assert "X-Search-Next-Cursor" not in rest.headers

    umlaut = client.get("/api/search", headers=alice, params={"q": "wirklich"})
    assert (umlaut.headers["X-Search-Order"], len(umlaut.json())) == ("newest", 3)
    rare = client.get("/api/search", headers=alice, params={"q": "nothing-like-this"})
    assert (rare.headers["X-Search-Order"], rare.json()) == ("best", [])
    refused = client.get("/api/search", headers=alice, params={"q": "think", "cursor": cursor, "mode": "meaning"})
    assert (refused.status_code, refused.json()["field"]) == (409, "cursor")
    unknown = client.get("/api/search", headers=alice, params={"q": "think", "cursor": "bm90LWEtY3Vyc29y"})
    assert (unknown.status_code, unknown.json()["field"]) == (404, "cursor")
    documented = client.get("/api/openapi.json").json()["paths"]["/api/search"]["get"]["responses"]
    assert {"404", "409"} <= documented.keys(), "a client learns from the document that a cursor can be refused"


def test_the_search_page_says_newest_first_and_links_to_more(client: Any, fresh_url: str) -> None:
    sign_up(client)
    owner = actor_of(client, fresh_url, {})
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        for day in range(22):  # a page shows 20 files
            file_id, _ = factories.media_file(
                conn, owner, filename=f"day{day:02}.wav", status="completed", upload_time=f"2026-01-{day + 1:02}"
            )
            factories.segments(conn, file_id, ["we think about München"] * 5)
    page = client.get("/search", params={"q": "think"}).text
    assert 'data-role="newest-first"' in page and "newest files first" in page
    assert re.findall(r'<a href="/files/[^"]+">([^<]+)</a>', page)[:2] == ["day21.wav", "day20.wav"]
    (more,) = re.findall(r'data-role="more" href="([^"]+)"', page)
    rest = client.get(html.unescape(more)).text
    assert re.findall(r'<a href="/files/[^"]+">([^<]+)</a>', rest) == ["day01.wav", "day00.wav"]
    assert 'data-role="more"' not in rest
    ranked = client.get("/search", params={"q": "München"}).text  # 22 x 5 = 110 mentions: common as well
    assert 'data-role="newest-first"' in ranked
