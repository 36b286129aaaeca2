"""Search by meaning in the repository: the nearest passages of the files an actor may read, best first."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from embeddings.encoder import Encoder
from repo import meaning, statements
from repo.database import act
from repo.errors import Invalid
from repo.library import LibraryFilter
from repo.meaning import MeaningSearchOff, nearest_passages
from repo.passages import ensure_vector_index
from repo.rows import Actor
from tests import factories

Conn = psycopg.Connection[Any]
MODEL = "local/tiny-bert"


@pytest.fixture(scope="module")
def encoder(tiny_embedding_dir: Path) -> Encoder:
    return Encoder(tiny_embedding_dir, name=MODEL)


@pytest.fixture
def vconn(vector_url: str) -> Iterator[Conn]:
    with psycopg.connect(vector_url) as conn:
        yield conn


def embedded(conn: Conn, encoder: Encoder, owner: Actor, texts: list[str], model: str = MODEL, **columns: Any) -> int:
    """A file whose passage i runs from 10·i to 10·i + 9 seconds, embedded by the tiny encoder."""
    file_id, _ = factories.media_file(conn, owner, status="completed", **columns)
    for i, (text, vector) in enumerate(zip(texts, encoder.passages(texts), strict=True)):
        factories.passage(conn, file_id, i, 10.0 * i, 10.0 * i + 9, text, vector.tolist(), model)
    return file_id


def nearest(
    conn: Conn, actor: Actor, encoder: Encoder, q: str, k: int = 10, **options: Any
) -> list[meaning.PassageHit]:
    return nearest_passages(conn, actor, encoder.query(q).tolist(), k=k, model=MODEL, **options)


def test_related_text_ranks_above_unrelated_and_only_the_current_model_counts(vconn: Conn, encoder: Encoder) -> None:
    owner = factories.user(vconn)
    weather = embedded(vconn, encoder, owner, ["rain and snow and cold wind today", "the budget meeting is at noon"])
    embedded(vconn, encoder, owner, ["rain and snow and cold wind today"], model="another/model")
    hits = nearest(vconn, owner, encoder, "cold rain and snow")
    assert [(h.file_id, h.start_time, h.end_time) for h in hits] == [(weather, 0.0, 9.0), (weather, 10.0, 19.0)]
    assert hits[0].score > hits[1].score and hits[0].text == "rain and snow and cold wind today"
    assert len(nearest(vconn, owner, encoder, "cold rain", k=1)) == 1


def test_passages_of_others_are_never_returned_but_an_admin_sees_all_in_the_all_files_view(
    vconn: Conn, encoder: Encoder
) -> None:
    owner, stranger, admin = factories.user(vconn), factories.user(vconn), factories.user(vconn, admin=True)
    theirs = embedded(vconn, encoder, owner, ["the secret budget of the company"])
    mine = embedded(vconn, encoder, stranger, ["my own music and songs"])
    assert {h.file_id for h in nearest(vconn, stranger, encoder, "secret budget")} == {mine}
    assert nearest(vconn, admin, encoder, "secret budget") == []
    assert {h.file_id for h in nearest(vconn, admin.seeing_all(), encoder, "secret budget")} == {theirs, mine}
    vconn.execute(
        "INSERT INTO shares (media_file_id, user_id, role, shared_by) VALUES (%s, %s, 'viewer', %s)",
        [theirs, stranger.id, owner.id],
    )
    assert {h.file_id for h in nearest(vconn, stranger, encoder, "secret budget")} == {theirs, mine}


def test_under_row_level_security_the_result_is_the_same(vconn: Conn, encoder: Encoder) -> None:
    owner, stranger = factories.user(vconn), factories.user(vconn)
    mine = embedded(vconn, encoder, owner, ["coffee and tea at breakfast"])
    embedded(vconn, encoder, stranger, ["coffee and tea at breakfast"])
    with vconn.transaction():
        act(vconn, owner)
        assert [h.file_id for h in nearest(vconn, owner, encoder, "coffee")] == [mine]


def test_one_file_one_collection_and_the_library_filters_narrow(vconn: Conn, encoder: Encoder) -> None:
    owner = factories.user(vconn)
    a = embedded(vconn, encoder, owner, ["the train to the city"], title="A")
    b = embedded(vconn, encoder, owner, ["the train to the city"], duration=500.0)
    collection = vconn.execute("INSERT INTO collections (user_id, name) VALUES (%s, 'c') RETURNING id", [owner.id])
    (collection_id,) = collection.fetchone() or (0,)
    vconn.execute("INSERT INTO collection_members (collection_id, media_file_id) VALUES (%s, %s)", [collection_id, b])
    assert {h.file_id for h in nearest(vconn, owner, encoder, "train")} == {a, b}
    assert [h.file_id for h in nearest(vconn, owner, encoder, "train", file_id=a)] == [a]
    assert [h.file_id for h in nearest(vconn, owner, encoder, "train", collection_id=collection_id)] == [b]
    filtered = nearest(vconn, owner, encoder, "train", filters=LibraryFilter(duration_min=100))
    assert [h.file_id for h in filtered] == [b]


def test_the_index_plan_returns_what_the_exact_plan_returns(
    vconn: Conn, encoder: Encoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = factories.user(vconn)
    texts = [f"{w} {v} day" for w in ("rain", "snow", "sun", "wind") for v in ("city", "forest", "river", "sea")]
    embedded(vconn, encoder, owner, texts)
    ensure_vector_index(vconn, encoder.dimensions)
    exact = nearest(vconn, owner, encoder, "rain in the forest", k=5)
    seen: list[str] = []
    monkeypatch.setattr(meaning, "EXACT_LIMIT", 0)
    monkeypatch.setattr(statements, "observers", [lambda name, ms: seen.append(name)])
    assert nearest(vconn, owner.seeing_all(), encoder, "rain in the forest", k=5) == exact
    assert seen == ["passages.vector_available", "meaning.candidate_passages", "meaning.nearest_indexed"]


def test_bad_vectors_are_refused(vconn: Conn) -> None:
    owner = factories.user(vconn)
    with pytest.raises(Invalid, match="query vector"):
        nearest_passages(vconn, owner, [], k=3, model=MODEL)
    with pytest.raises(Invalid, match="query vector"):
        nearest_passages(vconn, owner, [float("nan"), 1.0], k=3, model=MODEL)


def test_without_pgvector_search_by_meaning_says_it_is_off(without_vector_url: str) -> None:
    with psycopg.connect(without_vector_url) as conn:
        owner = factories.user(conn)
        with pytest.raises(MeaningSearchOff, match="pgvector") as raised:
            nearest_passages(conn, owner, [1.0, 0.0], k=3, model=MODEL)
        assert raised.value.field == "mode"
