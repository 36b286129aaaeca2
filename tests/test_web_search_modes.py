"""/api/search and the /search page with mode=words|meaning|both, on a database with pgvector and without it."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from starlette.testclient import TestClient

from config.settings import Settings
from embeddings.encoder import Encoder
from repo import schema
from repo.rows import Actor
from tests import factories
from tests.web import actor_of, sign_up, signed_in
from web.app import create_app
from web.search import SEARCH_MEANING_OFF

MODEL = "local/tiny-bert"  # embeddings.models.model_name of the tiny model's directory


def make_client(url: str, redis_url: str, home: Path, model: str) -> Iterator[Any]:
    settings = Settings(
        database_url=schema.to_url(url),
        redis_url=redis_url,
        opentr_home=home,
        db_pool_min=1,
        db_pool_max=4,
        db_pool_timeout=5,
        opentr_embedding_model=model,
    )
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def meaning_client(vector_url: str, redis_url: str, tmp_path: Path, tiny_embedding_dir: Path) -> Iterator[Any]:
    """The app on a database with pgvector, with the tiny embedding model."""
    yield from make_client(vector_url, redis_url, tmp_path / "home", str(tiny_embedding_dir))


@pytest.fixture
def no_vector_client(
    without_vector_url: str, redis_url: str, tmp_path: Path, tiny_embedding_dir: Path
) -> Iterator[Any]:
    """The app on a database without pgvector (the model is there)."""
    yield from make_client(without_vector_url, redis_url, tmp_path / "home", str(tiny_embedding_dir))


@pytest.fixture
def no_model_client(vector_url: str, redis_url: str, tmp_path: Path) -> Iterator[Any]:
    """The app with pgvector but without the embedding model on this machine (never pulled)."""
    yield from make_client(vector_url, redis_url, tmp_path / "home", "intfloat/multilingual-e5-small")


@pytest.fixture(scope="module")
def encoder(tiny_embedding_dir: Path) -> Encoder:
    return Encoder(tiny_embedding_dir, name=MODEL)


def recorded(url: str, encoder: Encoder | None, owner: Actor, texts: list[str], filename: str = "talk.wav") -> str:
    """A file whose segment i runs from i to i + 0.9 s; with an encoder, passage i is segment i, embedded."""
    with psycopg.connect(url, autocommit=True) as conn:
        file_id, file_uuid = factories.media_file(conn, owner, filename=filename, status="completed")
        factories.segments(conn, file_id, texts)
        if encoder is not None:
            for i, (text, vector) in enumerate(zip(texts, encoder.passages(texts), strict=True)):
                factories.passage(conn, file_id, i, float(i), i + 0.9, text, vector.tolist(), MODEL)
    return str(file_uuid)


def test_meaning_and_both_find_passages_and_open_the_file_at_their_moment(
    meaning_client: Any, vector_url: str, encoder: Encoder
) -> None:
    alice, owner = signed_in(meaning_client, vector_url)
    _, stranger = signed_in(meaning_client, vector_url)
    weather = recorded(vector_url, encoder, owner, ["coffee at breakfast", "rain and snow and cold wind"], "w.wav")
    music = recorded(vector_url, encoder, owner, ["music and songs 🎵 مرحبا 音楽"], "m.wav")
    words_only = recorded(vector_url, None, owner, ["a cold rain and snow report, not embedded yet"], "n.wav")
    recorded(vector_url, encoder, stranger, ["rain and snow and cold wind"], "theirs.wav")

    def found(mode: str) -> list[dict[str, Any]]:
        response = meaning_client.get("/api/search", headers=alice, params={"q": "snow and cold rain", "mode": mode})
        assert response.status_code == 200, response.text
        assert SEARCH_MEANING_OFF not in response.headers
        return list(response.json())

    by_meaning = found("meaning")
    assert [f["file_uuid"] for f in by_meaning] == [weather, music]
    best = by_meaning[0]["hits"][0]
    assert (best["kind"], best["start_time"], best["end_time"]) == ("passage", 1.0, 1.9)
    assert "<mark>snow</mark>" in best["snippet"] and best["rank"] > by_meaning[1]["best_rank"]
    assert "music and songs 🎵 مرحبا 音楽" in by_meaning[1]["hits"][0]["snippet"]
    both = found("both")
    assert both[0]["file_uuid"] == weather and {f["file_uuid"] for f in both} == {weather, music, words_only}
    assert {f["file_uuid"] for f in found("words")} == {weather, words_only}


def test_an_unknown_mode_is_a_422_naming_it(meaning_client: Any, vector_url: str) -> None:
    alice, _ = signed_in(meaning_client, vector_url)
    response = meaning_client.get("/api/search", headers=alice, params={"q": "budget", "mode": "vibes"})
    assert response.status_code == 422 and response.json()["field"] == "mode"


def test_without_pgvector_words_work_meaning_is_a_409_and_both_says_it_searched_by_words(
    no_vector_client: Any, without_vector_url: str
) -> None:
    alice, owner = signed_in(no_vector_client, without_vector_url)
    mine = recorded(without_vector_url, None, owner, ["the budget is ready"])
    for params in ({"q": "budget"}, {"q": "budget", "mode": "words"}):
        response = no_vector_client.get("/api/search", headers=alice, params=params)
        assert response.status_code == 200 and [f["file_uuid"] for f in response.json()] == [mine]
        assert SEARCH_MEANING_OFF not in response.headers
    refused = no_vector_client.get("/api/search", headers=alice, params={"q": "budget", "mode": "meaning"})
    assert refused.status_code == 409 and refused.json()["field"] == "mode"
    assert "pgvector" in refused.json()["detail"] and "README: Search by meaning" in refused.json()["detail"]
    both = no_vector_client.get("/api/search", headers=alice, params={"q": "budget", "mode": "both"})
    assert both.status_code == 200 and [f["file_uuid"] for f in both.json()] == [mine]
    assert "pgvector" in both.headers[SEARCH_MEANING_OFF]


def test_without_the_model_meaning_is_a_409_saying_what_to_run(no_model_client: Any, vector_url: str) -> None:
    alice, owner = signed_in(no_model_client, vector_url)
    mine = recorded(vector_url, None, owner, ["the budget is ready"])
    refused = no_model_client.get("/api/search", headers=alice, params={"q": "budget", "mode": "meaning"})
    assert refused.status_code == 409 and refused.json()["field"] == "mode"
    assert "opentr models pull embedding" in refused.json()["detail"]
    both = no_model_client.get("/api/search", headers=alice, params={"q": "budget", "mode": "both"})
    assert both.status_code == 200 and [f["file_uuid"] for f in both.json()] == [mine]
    assert "opentr models pull embedding" in both.headers[SEARCH_MEANING_OFF]


def test_the_document_describes_the_mode_and_the_header(client: Any) -> None:
    operation = client.get("/api/openapi.json").json()["paths"]["/api/search"]["get"]
    (mode,) = [p for p in operation["parameters"] if p["name"] == "mode"]
    assert mode["schema"]["enum"] == ["words", "meaning", "both"] and mode["schema"]["default"] == "words"
    assert SEARCH_MEANING_OFF in operation["responses"]["200"]["headers"]
    assert "application/json" in operation["responses"]["200"]["content"]
    assert "409" in operation["responses"]


def test_the_search_page_offers_the_modes_and_links_each_hit_to_its_moment(
    meaning_client: Any, vector_url: str, encoder: Encoder
) -> None:
    sign_up(meaning_client)
    owner = actor_of(meaning_client, vector_url, {})
    weather = recorded(vector_url, encoder, owner, ["coffee at breakfast", "rain and snow and cold wind"])
    page = meaning_client.get("/search", params={"q": "cold rain", "mode": "meaning"}).text
    radios = re.findall(r'<input type="radio" name="mode" value="(\w+)"( checked)?>', page)
    assert radios == [("words", ""), ("meaning", " checked"), ("both", "")]
    assert 'data-role="meaning-off"' not in page
    links = [html.unescape(x) for x in re.findall(r'class="hit" href="([^"]+)"', page)]
    assert links[0].startswith(f"/files/{weather}?t=1.0#seg-")


def test_the_search_page_disables_meaning_with_the_reason_when_it_is_off(
    no_vector_client: Any, without_vector_url: str
) -> None:
    sign_up(no_vector_client)
    owner = actor_of(no_vector_client, without_vector_url, {})
    mine = recorded(without_vector_url, None, owner, ["the budget is ready"])
    page = no_vector_client.get("/search", params={"q": "budget", "mode": "both"}).text
    radios = re.findall(r'<input type="radio" name="mode" value="(\w+)"( checked)?( disabled)?>', page)
    assert radios == [("words", " checked", ""), ("meaning", "", " disabled"), ("both", "", " disabled")]
    assert "Search by meaning is off: the database has no pgvector extension." in page
    assert 'data-role="searched-by-words"' in page and f"/files/{mine}?t=0#seg-" in page
    meaning_page = no_vector_client.get("/search", params={"q": "budget", "mode": "meaning"}).text
    assert f"/files/{mine}" not in meaning_page and "choose Words" in meaning_page
