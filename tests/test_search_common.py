"""A query found in more segments than a page shows (repo.search.COMMON): newest files first, more through a cursor.

What a user notices: a common word lists their newest files first, each with its first mentions in time order, and
"more" continues with older files, never repeating one; a rarer query is ranked as before and pages the same way;
another user's segments never appear, also through row-level security and shares; how a page is read (each file's
own rows, or the index) never changes what it holds.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

import repo.search
from repo.database import SYSTEM, act
from repo.errors import NotFound
from repo.rows import Actor
from repo.search import COMMON, SearchPage, SearchRepository
from tests import factories

Conn = psycopg.Connection[Any]
DAY0 = datetime(2026, 1, 1, tzinfo=UTC)


def recorded(conn: Conn, owner: Actor, day: int, texts: list[str], filename: str) -> Any:
    """A completed file uploaded `day` days after DAY0, segment i running from i to i + 0.9 s."""
    file_id, file_uuid = factories.media_file(
        conn, owner, filename=filename, status="completed", upload_time=DAY0 + timedelta(days=day)
    )
    factories.segments(conn, file_id, texts)
    return file_uuid


def chatty(n: int, every: int = 2) -> list[str]:
    """n segments, every `every`-th one saying "think" (the others not): 1 + (n - 1) // every mentions."""
    return [f"I think point {i} matters" if i % every == 0 else f"an aside number {i}" for i in range(n)]


def pages(repository: SearchRepository, actor: Actor, q: str, limit_files: int) -> list[SearchPage]:
    found = [repository.page(actor, q, limit_files=limit_files)]
    while found[-1].next_cursor:
        assert len(found) < 20, "the cursor never ends"
        found.append(repository.page(actor, q, limit_files=limit_files, after=found[-1].next_cursor))
    return found


def test_a_common_word_lists_the_newest_files_first_with_their_first_mentions_and_pages_on(conn: Conn) -> None:
    owner = factories.user(conn)
    # 7 files x 20 mentions = 140 > COMMON; uploaded on days 0..6, and a file without the word in between.
    files = {day: recorded(conn, owner, day, chatty(40), f"day{day}.wav") for day in range(7)}
    recorded(conn, owner, 3, ["nothing of the sort here"], "quiet.wav")
    assert COMMON < 7 * 20

    found = pages(SearchRepository(conn), owner, "thinking", limit_files=3)

    assert [p.order for p in found] == ["newest"] * 3
    assert [[f.file_uuid for f in p.files] for p in found] == [
        [files[6], files[5], files[4]],
        [files[3], files[2], files[1]],
        [files[0]],
    ]
    first = found[0].files[0]
    assert [h.start_time for h in first.hits] == [0.0, 2.0, 4.0, 6.0, 8.0]  # the first mentions, in time order
    assert all("<mark>think</mark>" in h.snippet and h.rank > 0 for h in first.hits)
    assert first.best_rank == max(h.rank for h in first.hits)
    assert found[-1].next_cursor is None


def test_a_query_found_in_at_most_common_segments_is_ranked_best_first_and_pages_on(conn: Conn) -> None:
    owner = factories.user(conn)
    once = recorded(conn, owner, 5, ["the budget is ready"], "once.wav")
    thrice = recorded(conn, owner, 1, ["budget, budget and budget again"], "thrice.wav")
    twice = recorded(conn, owner, 3, ["the budget and the budget"], "twice.wav")

    found = pages(SearchRepository(conn), owner, "budget", limit_files=2)

    assert [p.order for p in found] == ["best", "best"]
    assert [[f.file_uuid for f in p.files] for p in found] == [[thrice, twice], [once]]
    assert found[0].files[0].best_rank > found[0].files[1].best_rank > found[1].files[0].best_rank


def test_one_match_more_than_common_switches_to_newest_first(conn: Conn) -> None:
    owner = factories.user(conn)
    old = recorded(conn, owner, 0, ["think think think think"] * 10, "old.wav")  # the best ranked, and the oldest
    recent = recorded(conn, owner, 9, ["I think so"] * (COMMON - 10), "recent.wav")
    repository = SearchRepository(conn)
    ranked = repository.page(owner, "think")
    assert (ranked.order, [f.file_uuid for f in ranked.files]) == ("best", [old, recent])

    recorded(conn, owner, 4, ["I think"], "one-more.wav")
    newest = repository.page(owner, "think")
    assert newest.order == "newest"
    assert [f.filename for f in newest.files] == ["recent.wav", "one-more.wav", "old.wav"]


def test_a_common_word_never_shows_another_users_segments_but_shows_what_is_shared(conn: Conn) -> None:
    owner, stranger, friend = factories.user(conn), factories.user(conn), factories.user(conn)
    mine = recorded(conn, owner, 1, chatty(300), "mine.wav")
    recorded(conn, stranger, 8, chatty(300), "stranger.wav")  # newer than anything the owner can see
    shared = recorded(conn, friend, 5, chatty(10), "shared.wav")
    recorded(conn, friend, 6, chatty(10), "not-shared.wav")
    conn.execute(
        "INSERT INTO shares (media_file_id, user_id, role, shared_by) "
        "SELECT id, %s, 'viewer', %s FROM media_files WHERE uuid = %s",
        [owner.id, friend.id, shared],
    )
    act(conn, owner)  # as the web app acts: role opentr_app, row-level security on top of the query's own rule
    try:
        found = SearchRepository(conn).page(owner, "think")
    finally:
        act(conn, SYSTEM)
    assert found.order == "newest" and found.next_cursor is None
    assert [f.file_uuid for f in found.files] == [shared, mine]
    assert {h.uuid for f in found.files for h in f.hits} <= {
        row[0]
        for row in conn.execute(
            "SELECT s.uuid FROM transcript_segments s JOIN media_files f ON f.id = s.media_file_id "
            "WHERE f.uuid = ANY(%s)",
            [[shared, mine]],
        )
    }


def test_how_a_newest_first_page_is_read_never_changes_what_it_holds(
    conn: Conn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each file's own rows (a word found densely in the newest files) or the index's matches: the same pages."""
    owner = factories.user(conn)
    for day in range(6):
        recorded(conn, owner, day, chatty(60, every=3), f"day{day}.wav")
    summary_file = recorded(conn, owner, 2, ["no mention"], "summary.wav")
    conn.execute(
        "INSERT INTO file_summaries (media_file_id, user_id, version, status, bluf, brief_summary) "
        "SELECT id, %s, 1, 'completed', 'We think this works', 'Ü ä 東京 🎙️' FROM media_files WHERE uuid = %s",
        [owner.id, summary_file],
    )
    repository = SearchRepository(conn)

    def read() -> list[list[tuple[Any, list[tuple[str, float | None]]]]]:
        return [
            [(f.file_uuid, [(h.kind, h.start_time) for h in f.hits]) for f in p.files]
            for p in pages(repository, owner, "think", limit_files=4)
        ]

    dense = read()
    monkeypatch.setattr(repo.search, "PROBE_ROWS", 10)  # the sample sees too little: the index decides and reads
    monkeypatch.setattr(repo.search, "DENSE_MATCHES", 10)
    indexed = read()
    assert dense == indexed
    assert [len(page) for page in dense] == [4, 3]
    assert ("summary", None) in dict(dense[0] + dense[1])[summary_file]


def test_a_cursor_this_server_did_not_write_is_a_page_not_found(conn: Conn) -> None:
    owner = factories.user(conn)
    recorded(conn, owner, 0, chatty(10), "a.wav")
    for bad in ["bm90LWEtY3Vyc29y", "x" * 2000, "eyJrIjoidGFza3MiLCJ0IjoiMjAyNi0wMS0wMVQwMDowMDowMCswMDowMCIsImkiOjF9"]:
        with pytest.raises(NotFound) as info:
            SearchRepository(conn).page(owner, "think", after=bad)
        assert info.value.field == "cursor"
