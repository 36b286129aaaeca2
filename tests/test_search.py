from __future__ import annotations

import random
import string
from typing import Any

import psycopg
import pytest

from repo import statements
from repo.rows import Actor
from repo.search import FileHits, SearchRepository
from tests import factories

Conn = psycopg.Connection[Any]


def transcribed(conn: Conn, owner: Actor, texts: list[str], **columns: Any) -> tuple[int, Any]:
    """A file whose segment i runs from i to i + 0.9 seconds."""
    file_id, file_uuid = factories.media_file(conn, owner, status="completed", **columns)
    factories.segments(conn, file_id, texts)
    return file_id, file_uuid


def summary(
    conn: Conn, owner: Actor, file_id: int, bluf: str, brief: str, version: int = 1, status: str = "completed"
) -> None:
    conn.execute(
        "INSERT INTO file_summaries (media_file_id, user_id, version, status, bluf, brief_summary) "
        "VALUES (%s, %s, %s, %s, %s, %s)",
        (file_id, owner.id, version, status, bluf, brief),
    )


def search(conn: Conn, actor: Actor, q: str, **options: Any) -> list[FileHits]:
    return SearchRepository(conn).search(actor, q, **options)


def test_stemming_finds_every_form_of_the_word(conn: Conn) -> None:
    owner = factories.user(conn)
    _, file_uuid = transcribed(conn, owner, ["we run every morning", "nothing to see", "she runs fast"])
    (found,) = search(conn, owner, "running")
    assert found.file_uuid == file_uuid
    assert sorted((h.kind, h.start_time, h.end_time) for h in found.hits) == [
        ("segment", 0.0, 0.9),
        ("segment", 2.0, 2.9),
    ]


def test_more_occurrences_rank_higher(conn: Conn) -> None:
    owner = factories.user(conn)
    _, once = transcribed(conn, owner, ["the budget is ready"])
    _, twice = transcribed(conn, owner, ["first the budget and then the budget again", "budget once more"])
    results = search(conn, owner, "budget")
    assert [r.file_uuid for r in results] == [twice, once]
    best = results[0]
    assert [h.start_time for h in best.hits] == [0.0, 1.0]
    assert best.hits[0].rank > best.hits[1].rank and best.best_rank == best.hits[0].rank
    assert best.best_rank > results[1].best_rank


def test_snippets_highlight_the_match_and_escape_html(conn: Conn) -> None:
    owner = factories.user(conn)
    transcribed(conn, owner, ["the <b>forecast</b> looks good & steady"])
    (found,) = search(conn, owner, "forecast")
    snippet = found.hits[0].snippet
    assert "<mark>forecast</mark>" in snippet
    assert snippet.count("<") == 2 and "&lt;b&gt;" in snippet and "&amp;" in snippet


def test_results_are_grouped_by_file_with_filename_and_title(conn: Conn) -> None:
    owner = factories.user(conn)
    _, many = transcribed(
        conn, owner, ["galaxy one", "galaxy two", "no match", "galaxy three"], filename="space.wav", title="Space"
    )
    _, single = transcribed(conn, owner, ["a galaxy far away"], filename="far.wav")
    results = search(conn, owner, "galaxy")
    assert {r.file_uuid: len(r.hits) for r in results} == {many: 3, single: 1}
    by_file = {r.file_uuid: r for r in results}
    assert (by_file[many].filename, by_file[many].title) == ("space.wav", "Space")
    assert (by_file[single].filename, by_file[single].title) == ("far.wav", None)
    assert sorted(h.start_time or 0 for h in by_file[many].hits) == [0.0, 1.0, 3.0]


def test_limits_apply_per_file_and_to_the_number_of_files(conn: Conn) -> None:
    owner = factories.user(conn)
    for _ in range(3):
        transcribed(conn, owner, ["nebula", "nebula again", "nebula nebula nebula"])
    results = search(conn, owner, "nebula", limit_files=2, hits_per_file=2)
    assert len(results) == 2 and all(len(r.hits) == 2 for r in results)
    assert all(r.hits[0].rank >= r.hits[1].rank for r in results)
    assert search(conn, owner, "nebula", limit_files=0) == []


def test_another_users_files_never_appear_but_an_admin_sees_all_in_the_all_files_view(conn: Conn) -> None:
    owner, stranger, admin = factories.user(conn), factories.user(conn), factories.user(conn, admin=True)
    file_id, file_uuid = transcribed(conn, owner, ["the secret password is swordfish"])
    summary(conn, owner, file_id, "swordfish is the password", "swordfish again")
    _, stranger_file = transcribed(conn, stranger, ["my own swordfish"])
    assert [r.file_uuid for r in search(conn, stranger, "swordfish")] == [stranger_file]
    assert search(conn, admin, "swordfish") == []
    assert {r.file_uuid for r in search(conn, admin.seeing_all(), "swordfish")} == {file_uuid, stranger_file}


def test_summaries_are_found_in_their_latest_completed_version(conn: Conn) -> None:
    owner = factories.user(conn)
    file_id, file_uuid = transcribed(conn, owner, ["unrelated words"])
    summary(conn, owner, file_id, "obsolete conclusions", "old", version=1)
    summary(conn, owner, file_id, "The team approved the migration plan.", "Deadlines were agreed.", version=2)
    summary(conn, owner, file_id, "unfinished migration draft", "", version=3, status="processing")
    (found,) = search(conn, owner, "migrations")
    (hit,) = found.hits
    assert found.file_uuid == file_uuid
    assert (hit.kind, hit.start_time, hit.end_time) == ("summary", None, None)
    assert "<mark>migration</mark>" in hit.snippet and "unfinished" not in hit.snippet
    assert search(conn, owner, "obsolete") == []
    assert search(conn, owner, "deadline")[0].hits[0].kind == "summary"


def test_segments_and_summaries_of_a_file_come_together(conn: Conn) -> None:
    owner = factories.user(conn)
    file_id, _ = transcribed(conn, owner, ["the harbour is closed"])
    summary(conn, owner, file_id, "Harbour closure", "The harbour closes on Monday.")
    (found,) = search(conn, owner, "harbour")
    assert sorted(h.kind for h in found.hits) == ["segment", "summary"]


def test_web_search_syntax_phrases_and_exclusions(conn: Conn) -> None:
    owner = factories.user(conn)
    _, red_car = transcribed(conn, owner, ["a red car passed"])
    _, car_red = transcribed(conn, owner, ["the car was parked, red"])
    assert [r.file_uuid for r in search(conn, owner, '"red car"')] == [red_car]
    assert [r.file_uuid for r in search(conn, owner, "car -passed")] == [car_red]
    assert {r.file_uuid for r in search(conn, owner, "passed or parked")} == {red_car, car_red}


def test_a_search_is_one_statement_and_an_empty_query_none(conn: Conn, monkeypatch: pytest.MonkeyPatch) -> None:
    owner = factories.user(conn)
    transcribed(conn, owner, ["counting statements"])
    seen: list[str] = []
    monkeypatch.setattr(statements, "observers", [lambda name, ms: seen.append(name)])
    assert len(search(conn, owner, "statement")) == 1
    assert seen == ["search.search"]
    seen.clear()
    for blank in ["", "   ", "\t\n", "\x00"]:
        assert search(conn, owner, blank) == []
    assert seen == []


def random_text(size: int) -> str:
    rng = random.Random(42)
    alphabet = string.ascii_letters + string.digits + string.punctuation + " " * 10
    return "".join(rng.choice(alphabet) for _ in range(size))


@pytest.mark.parametrize(
    "hostile",
    [
        "'); DROP TABLE users; --",
        'he said "hello',
        '"',
        "& | ! <->",
        "-",
        "!!!",
        "<2>",
        "a:*",
        "or",
        "-- /* */ ;",
        "%(q)s %s {}",
        "\\",
        random_text(10_000),
        "café naïve 東京 🎙️🔥 Ünïcödé",
        "the and of",
        "nul\x00byte",
    ],
)
def test_hostile_input_never_errors(conn: Conn, hostile: str) -> None:
    owner = factories.user(conn)
    transcribed(conn, owner, ["hello there, the users table stays", "café in 東京 🎙️"])
    results = search(conn, owner, hostile)
    assert isinstance(results, list)
    row = conn.execute("SELECT count(*) FROM users WHERE id = %s", (owner.id,)).fetchone()
    assert row == (1,)


def test_unicode_words_are_found(conn: Conn) -> None:
    owner = factories.user(conn)
    _, file_uuid = transcribed(conn, owner, ["we met at the café in München"])
    assert [r.file_uuid for r in search(conn, owner, "München")] == [file_uuid]
