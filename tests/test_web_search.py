from __future__ import annotations

from typing import Any

import psycopg
import pytest

from repo.rows import Actor
from tests import factories
from tests.web import signed_in


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
