"""Search by meaning and hybrid search (repo/search.py modes) over real passages made by the tiny encoder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest

from embeddings.encoder import Encoder
from repo.database import act
from repo.errors import Invalid
from repo.library import LibraryFilter
from repo.meaning import MeaningSearchOff
from repo.rows import Actor
from repo.search import FileHits, MeaningQuery, SearchMode, SearchRepository
from tests import factories

Conn = psycopg.Connection[Any]
MODEL = "local/tiny-bert"
MODES: list[SearchMode] = ["words", "meaning", "both"]


@pytest.fixture(scope="module")
def encoder(tiny_embedding_dir: Path) -> Encoder:
    return Encoder(tiny_embedding_dir, name=MODEL)


@pytest.fixture
def vconn(vector_url: str) -> Iterator[Conn]:
    with psycopg.connect(vector_url, autocommit=True) as conn:
        yield conn


def recorded(conn: Conn, encoder: Encoder | None, owner: Actor, texts: list[str], **columns: Any) -> UUID:
    """A file whose segment i runs from i to i + 0.9 s; with an encoder, passage i is segment i, embedded."""
    file_id, file_uuid = factories.media_file(conn, owner, status="completed", **columns)
    factories.segments(conn, file_id, texts)
    if encoder is not None:
        for i, (text, vector) in enumerate(zip(texts, encoder.passages(texts), strict=True)):
            factories.passage(conn, file_id, i, float(i), i + 0.9, text, vector.tolist(), MODEL)
    return UUID(str(file_uuid))


def search(conn: Conn, encoder: Encoder, actor: Actor, q: str, mode: SearchMode, **options: Any) -> list[FileHits]:
    """A search as the web app runs it: in a transaction acting for `actor` (row-level security on)."""
    with conn.transaction():
        act(conn, actor)
        meaning = MeaningQuery(encoder.query(q).tolist(), MODEL)
        return SearchRepository(conn).search(actor, q, mode=mode, meaning=meaning, **options)


def files(results: list[FileHits]) -> set[UUID]:
    return {r.file_uuid for r in results}


def test_meaning_ranks_related_text_first_and_each_hit_opens_the_file_at_its_moment(
    vconn: Conn, encoder: Encoder
) -> None:
    owner = factories.user(vconn)
    related = recorded(vconn, encoder, owner, ["the dog and the cat sleep", "rain and snow and cold wind today"])
    unrelated = recorded(vconn, encoder, owner, ["coffee and bread at breakfast"])
    results = search(vconn, encoder, owner, "cold wind with rain and snow", "meaning")
    assert [r.file_uuid for r in results] == [related, unrelated]
    best = results[0].hits[0]
    assert (best.kind, best.start_time, best.end_time) == ("passage", 1.0, 1.9)
    segment = vconn.execute("SELECT uuid FROM transcript_segments WHERE start_time = 1 AND text LIKE 'rain%%'")
    assert best.uuid == (segment.fetchone() or [None])[0]
    assert "<mark>rain</mark>" in best.snippet and "<mark>snow</mark>" in best.snippet
    assert results[0].best_rank == best.rank > results[1].best_rank


def test_both_fuses_a_file_found_only_by_meaning_and_one_found_only_by_words(vconn: Conn, encoder: Encoder) -> None:
    owner = factories.user(vconn)
    by_both = recorded(vconn, encoder, owner, ["the budget meeting with the team", "music and songs"])
    by_meaning = recorded(vconn, encoder, owner, ["the project report and the team plan"])
    by_words = recorded(vconn, None, owner, ["a budget not embedded yet"])  # no passages yet
    assert files(search(vconn, encoder, owner, "budget", "words")) == {by_both, by_words}
    assert files(search(vconn, encoder, owner, "budget", "meaning")) == {by_both, by_meaning}
    fused = search(vconn, encoder, owner, "budget", "both")
    assert fused[0].file_uuid == by_both and files(fused) == {by_both, by_meaning, by_words}
    top = fused[0].hits[0]  # the word hit and the meaning hit of the same moment count once, with both ranks
    assert (top.kind, top.start_time) == ("passage", 0.0) and "<mark>budget</mark>" in top.snippet
    assert [h.start_time for h in fused[0].hits].count(0.0) == 1
    (words_only,) = [r for r in fused if r.file_uuid == by_words]
    assert [h.kind for h in words_only.hits] == ["segment"]
    assert top.rank > words_only.best_rank


@pytest.mark.parametrize("mode", MODES)
def test_every_access_rule_of_search_holds_in_every_mode(vconn: Conn, encoder: Encoder, mode: SearchMode) -> None:
    owner = factories.user(vconn)
    names = ("user_viewer", "group_viewer", "collection_viewer", "stranger", "revoked")
    people = {name: factories.user(vconn) for name in names}
    admin = factories.user(vconn, admin=True)
    secret = recorded(vconn, encoder, owner, ["the secret budget of the company"], duration=120.0)
    (file_id,) = vconn.execute("SELECT id FROM media_files WHERE uuid = %s", [secret]).fetchone() or [0]
    share = "INSERT INTO shares (media_file_id, collection_id, user_id, group_id, role, shared_by) VALUES "
    vconn.execute(share + "(%s, NULL, %s, NULL, 'viewer', %s)", [file_id, people["user_viewer"].id, owner.id])
    (group,) = vconn.execute("INSERT INTO groups (name, created_by) VALUES ('チーム', %s) RETURNING id", [owner.id])
    member = "INSERT INTO group_members (group_id, user_id) VALUES (%s, %s)"
    vconn.execute(member, [group[0], people["group_viewer"].id])
    vconn.execute(share + "(%s, NULL, NULL, %s, 'viewer', %s)", [file_id, group[0], owner.id])
    (collection,) = vconn.execute("INSERT INTO collections (user_id, name) VALUES (%s, 'c') RETURNING id", [owner.id])
    in_collection = "INSERT INTO collection_members (collection_id, media_file_id) VALUES (%s, %s)"
    vconn.execute(in_collection, [collection[0], file_id])
    vconn.execute(
        share + "(NULL, %s, %s, NULL, 'viewer', %s)", [collection[0], people["collection_viewer"].id, owner.id]
    )
    vconn.execute(share + "(%s, NULL, %s, NULL, 'viewer', %s)", [file_id, people["revoked"].id, owner.id])
    vconn.execute("DELETE FROM shares WHERE user_id = %s", [people["revoked"].id])
    for name in names:  # each sees their own file too, and never the other's
        recorded(vconn, encoder, people[name], [f"my own budget notes {name}"])

    def found(actor: Actor, **options: Any) -> bool:
        return secret in files(search(vconn, encoder, actor, "secret budget", mode, **options))

    assert found(owner)
    assert found(people["user_viewer"]) and found(people["group_viewer"]) and found(people["collection_viewer"])
    assert not found(people["stranger"]) and not found(people["revoked"]) and not found(admin)
    assert found(admin.seeing_all())
    assert len(search(vconn, encoder, people["stranger"], "budget", mode)) == 1
    assert len(search(vconn, encoder, admin.seeing_all(), "budget", mode)) == 1 + len(names)
    assert found(people["user_viewer"], filters=LibraryFilter(duration_min=100))
    assert not found(people["user_viewer"], filters=LibraryFilter(duration_max=100))
    assert not found(owner, filters=LibraryFilter(shared="me"))
    assert found(people["collection_viewer"], filters=LibraryFilter(shared="me"))


@pytest.mark.parametrize("mode", ["meaning", "both"])
def test_text_in_every_script_round_trips_in_snippets(vconn: Conn, encoder: Encoder, mode: SearchMode) -> None:
    owner = factories.user(vconn)
    texts = ["会議の予算について話しました", "الميزانية جاهزة 📊", "Grüße <b>&</b> 🎉 budget"]
    recorded(vconn, encoder, owner, texts)
    (result,) = search(vconn, encoder, owner, "budget 予算 الميزانية", mode, hits_per_file=10)
    snippets = " ".join(h.snippet for h in result.hits)
    assert "会議の予算について話しました" in snippets and "<mark>الميزانية</mark> جاهزة 📊" in snippets
    assert "Grüße &lt;b&gt;&amp;&lt;/b&gt; 🎉 <mark>budget</mark>" in snippets


def test_an_unknown_mode_is_refused_naming_it(vconn: Conn, encoder: Encoder) -> None:
    owner = factories.user(vconn)
    with pytest.raises(Invalid) as raised:
        search(vconn, encoder, owner, "budget", "vibes")  # type: ignore[arg-type]
    assert raised.value.field == "mode"


def test_without_pgvector_words_work_and_meaning_says_it_is_off(without_vector_url: str, encoder: Encoder) -> None:
    with psycopg.connect(without_vector_url, autocommit=True) as conn:
        owner = factories.user(conn)
        mine = recorded(conn, None, owner, ["the budget is ready"])
        assert files(search(conn, encoder, owner, "budget", "words")) == {mine}
        off: list[SearchMode] = ["meaning", "both"]
        for mode in off:
            with pytest.raises(MeaningSearchOff, match="pgvector") as raised:
                search(conn, encoder, owner, "budget", mode)
            assert raised.value.field == "mode"
