"""The library's filters on the file list and search, each alone and combined, against sets worked out by hand."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest

from repo import media_files, segment_counts, statements
from repo.errors import Invalid, NotFound
from repo.library import LibraryFilter, filter_values
from repo.media_files import MediaFileRepository
from repo.rows import Actor
from repo.search import SearchRepository
from tests import factories

Conn = psycopg.Connection[Any]
T0 = datetime(2024, 3, 1, tzinfo=UTC)


def day(n: int) -> datetime:
    return T0 + timedelta(days=n)


@dataclass
class Library:
    owner: Actor
    other: Actor
    uuid: dict[str, UUID]  # file name -> uuid
    ann_lee: UUID  # the owner's profile
    foreign_profile: UUID  # the other user's
    collection: UUID

    def names(self, uuids: list[UUID]) -> list[str]:
        by_uuid = {v: k for k, v in self.uuid.items()}
        return [by_uuid[u] for u in uuids]


def _speaker(conn: Conn, owner: Actor, file_id: int, label: str, shown: str | None, profile: int | None) -> None:
    speaker_id = factories.speaker(conn, owner, file_id, label)
    conn.execute("UPDATE speakers SET display_name = %s, profile_id = %s WHERE id = %s", [shown, profile, speaker_id])


def _tag(conn: Conn, file_id: int, *names: str) -> None:
    for name in names:
        conn.execute("INSERT INTO tags (name) VALUES (%s) ON CONFLICT (name) DO NOTHING", [name])
        conn.execute(
            "INSERT INTO file_tags (media_file_id, tag_id) SELECT %s, id FROM tags WHERE name = %s", [file_id, name]
        )


def _profile(conn: Conn, owner: Actor, name: str) -> tuple[int, UUID]:
    row = conn.execute(
        "INSERT INTO speaker_profiles (user_id, name) VALUES (%s, %s) RETURNING id, uuid", [owner.id, name]
    ).fetchone()
    assert row is not None
    return row[0], row[1]


@pytest.fixture
def lib(conn: Conn) -> Library:
    """Seven files of the owner's (a..g, uploaded on days 1..7) and one of another user's that matches everything.

    name status    tags             speakers (shown name / profile)          duration type  recorded transcript
    a    completed red blue         Ann / Ann Lee                            45       audio day 1    budget review
    b    completed red              Bob                                      120      video day -    holiday plans
    c    error     blue             ANN                                      600      audio day 5    -
    d    queued    -                -                                        -        video* day -   -
    e    completed red blue green   Carl / Carl; SPEAKER_01 / Ann Lee        45       audio day 7    budget approved
    f    cancelled green            -                                        3600     video day 2    -
    g    completed red              Dora                                     90       audio day 9    budgets
    (* d is application/octet-stream with a picture size.) a, b and c are in a collection.
    """
    owner, other = factories.user(conn), factories.user(conn)
    ann_id, ann_uuid = _profile(conn, owner, "Ann Lee")
    carl_id, _ = _profile(conn, owner, "Carl")
    spec: list[tuple[str, str, dict[str, Any]]] = [
        ("a", "completed", {"duration": 45.0, "content_type": "audio/wav", "creation_date": day(1), "title": "a"}),
        ("b", "completed", {"duration": 120.0, "content_type": "video/mp4"}),
        ("c", "error", {"duration": 600.0, "content_type": "audio/mpeg", "creation_date": day(5), "title": "c"}),
        ("d", "queued", {"content_type": "application/octet-stream", "resolution_width": 640}),
        ("e", "completed", {"duration": 45.0, "content_type": "audio/ogg", "creation_date": day(7), "title": "e"}),
        ("f", "cancelled", {"duration": 3600.0, "content_type": "video/webm", "creation_date": day(2)}),
        ("g", "completed", {"duration": 90.0, "content_type": "audio/wav", "creation_date": day(9), "title": "g"}),
    ]
    ids: dict[str, int] = {}
    uuids: dict[str, UUID] = {}
    for n, (name, status, columns) in enumerate(spec, start=1):
        filename = f"{name}.wav" if "title" not in columns else f"z-{name}.wav"
        ids[name], uuids[name] = factories.media_file(
            conn, owner, filename=filename, status=status, upload_time=day(n), **columns
        )
    for name, tags in {
        "a": "red blue",
        "b": "red",
        "c": "blue",
        "e": "red blue green",
        "f": "green",
        "g": "red",
    }.items():
        _tag(conn, ids[name], *tags.split())
    _speaker(conn, owner, ids["a"], "SPEAKER_00", "Ann", ann_id)
    _speaker(conn, owner, ids["b"], "SPEAKER_00", "Bob", None)
    _speaker(conn, owner, ids["c"], "SPEAKER_00", "ANN", None)
    _speaker(conn, owner, ids["e"], "SPEAKER_00", "Carl", carl_id)
    _speaker(conn, owner, ids["e"], "SPEAKER_01", None, ann_id)
    _speaker(conn, owner, ids["g"], "SPEAKER_00", "Dora", None)
    factories.segments(conn, ids["a"], ["the budget review", "meeting notes"])
    factories.segments(conn, ids["b"], ["holiday plans"])
    factories.segments(conn, ids["e"], ["the budget is approved"])
    factories.segments(conn, ids["g"], ["budgets everywhere"])
    row = conn.execute(
        "INSERT INTO collections (user_id, name) VALUES (%s, 'talks') RETURNING id, uuid", [owner.id]
    ).fetchone()
    assert row is not None
    for name in "abc":
        conn.execute(
            "INSERT INTO collection_members (collection_id, media_file_id) VALUES (%s, %s)", [row[0], ids[name]]
        )

    # The other user's file matches every filter above; it must never show.
    foreign_id, _ = factories.media_file(
        conn,
        other,
        status="completed",
        duration=60.0,
        upload_time=day(4),
        creation_date=day(4),
        content_type="audio/wav",
    )
    profile_id, foreign_profile = _profile(conn, other, "Ann Lee")
    _speaker(conn, other, foreign_id, "SPEAKER_00", "Ann", profile_id)
    _tag(conn, foreign_id, "red", "blue", "green")
    factories.segments(conn, foreign_id, ["budget review budget"])
    return Library(owner, other, uuids, ann_uuid, foreign_profile, row[1])


def walk(conn: Conn, lib: Library, limit: int, **options: Any) -> Iterator[list[str]]:
    """Every page, following the cursors."""
    files, cursor = MediaFileRepository(conn), None
    while True:
        page = files.list_page(lib.owner, limit=limit, cursor=cursor, **options)
        yield lib.names([row.uuid for row in page.items])
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def listed(conn: Conn, lib: Library, **filters: Any) -> set[str]:
    pages = list(walk(conn, lib, 2, filters=LibraryFilter(**filters)))
    names = [name for page in pages for name in page]
    assert len(names) == len(set(names)), "no file twice across pages"
    assert all(len(page) == 2 for page in pages[:-1]), "every page but the last is full"
    return set(names)


CASES: list[tuple[dict[str, Any], str]] = [
    ({}, "abcdefg"),
    ({"statuses": ["completed"]}, "abeg"),
    ({"statuses": ["error", "cancelled"]}, "cf"),
    ({"tags": ["red"]}, "abeg"),
    ({"tags": ["red", "blue"]}, "ae"),
    ({"tags": ["red", "blue"], "tags_any": True}, "abceg"),
    ({"tags": ["green", "nowhere"]}, ""),
    ({"tags": ["green", "nowhere"], "tags_any": True}, "ef"),
    ({"speaker": "ann"}, "ac"),
    ({"speaker": "  Ann Lee "}, "ae"),
    ({"speaker": "speaker_01"}, "e"),
    ({"speaker": "nobody"}, ""),
    ({"duration_min": 45}, "abcefg"),
    ({"duration_max": 90}, "aeg"),
    ({"duration_min": 45, "duration_max": 120}, "abeg"),
    ({"uploaded_from": day(3), "uploaded_to": day(6)}, "cde"),
    ({"recorded_from": day(2), "recorded_to": day(7)}, "cf"),
    ({"recorded_from": day(7)}, "eg"),
    ({"media_type": "video"}, "bdf"),
    ({"media_type": "audio"}, "aceg"),
    ({"transcript": "budget"}, "aeg"),
    ({"transcript": '"budget review"'}, "a"),
    ({"transcript": "budget -approved"}, "ag"),
    ({"tags": ["red"], "media_type": "audio", "duration_min": 40, "transcript": "budget"}, "aeg"),
    ({"tags": ["red"], "media_type": "audio", "duration_min": 50, "transcript": "budget"}, "g"),
    ({"statuses": ["completed", "error"], "speaker": "ann", "tags": ["blue"]}, "ac"),
    ({"speaker": "Ann Lee", "uploaded_from": day(2), "tags": ["green"], "tags_any": True}, "e"),
    ({"media_type": "video", "statuses": ["queued", "cancelled"], "duration_min": 0}, "f"),
]


@pytest.mark.parametrize(("filters", "expected"), CASES, ids=[str(c[0]) for c in CASES])
def test_each_filter_alone_and_combined_matches_the_hand_worked_set(
    conn: Conn, lib: Library, filters: dict[str, Any], expected: str
) -> None:
    assert listed(conn, lib, **filters) == set(expected)


def test_profile_and_collection_filters_use_the_actors_own_only(conn: Conn, lib: Library) -> None:
    assert listed(conn, lib, profile_uuid=lib.ann_lee) == {"a", "e"}
    assert listed(conn, lib, profile_uuid=lib.foreign_profile) == set()
    assert listed(conn, lib, collection=lib.collection) == {"a", "b", "c"}
    assert listed(conn, lib, collection=lib.collection, tags=["blue"]) == {"a", "c"}
    others = MediaFileRepository(conn).list_page(lib.other, filters=LibraryFilter(collection=lib.collection))
    assert others.items == [], "another user's collection filters to nothing"


def test_sorting_by_each_key_walks_pages_in_order_with_ties_broken_by_id(conn: Conn, lib: Library) -> None:
    assert list(walk(conn, lib, 3)) == [["g", "f", "e"], ["d", "c", "b"], ["a"]]
    assert list(walk(conn, lib, 3, descending=False)) == [["a", "b", "c"], ["d", "e", "f"], ["g"]]
    # titles as shown: a title, else the filename (b.wav, d.wav, f.wav); A→Z unless asked otherwise
    assert list(walk(conn, lib, 2, sort="title")) == [["a", "b"], ["c", "d"], ["e", "f"], ["g"]]
    assert list(walk(conn, lib, 4, sort="title", descending=True)) == [["g", "f", "e", "d"], ["c", "b", "a"]]
    # a and e both last 45 s: the page boundary falls between them, e (the newer row) first when descending
    assert list(walk(conn, lib, 5, sort="duration")) == [["f", "c", "b", "g", "e"], ["a", "d"]]
    assert list(walk(conn, lib, 1, sort="duration", descending=False)) == [[x] for x in "daegbcf"]
    filtered = LibraryFilter(tags=["red", "blue"], tags_any=True)
    assert list(walk(conn, lib, 2, filters=filtered, sort="duration")) == [["c", "b"], ["g", "e"], ["a"]]


def test_a_cursor_belongs_to_its_sort_and_direction(conn: Conn, lib: Library) -> None:
    files = MediaFileRepository(conn)
    by_title = files.list_page(lib.owner, limit=2, sort="title").next_cursor
    assert by_title is not None
    others: list[dict[str, Any]] = [{}, {"sort": "title", "descending": True}, {"sort": "duration"}]
    for options in others:
        with pytest.raises(NotFound) as info:  # like any cursor this server did not write for this listing
            files.list_page(lib.owner, limit=2, cursor=by_title, **options)
        assert info.value.field == "cursor"


def test_all_filters_at_once_are_one_statement(conn: Conn, lib: Library, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    monkeypatch.setattr(statements, "observers", [lambda name, ms: seen.append(name)])
    everything = LibraryFilter(
        statuses=["completed"],
        tags=["red", "blue"],
        collection=lib.collection,
        speaker="Ann",
        profile_uuid=lib.ann_lee,
        duration_min=1,
        duration_max=100,
        uploaded_from=day(0),
        uploaded_to=day(9),
        recorded_from=day(0),
        recorded_to=day(9),
        media_type="audio",
        transcript="budget",
    )
    monkeypatch.setattr(media_files, "COUNTS", segment_counts.SegmentCounts())
    # The first page of a process also counts its transcripts' segments (repo/segment_counts.py), once.
    for statements_sent in (["media_files.list_page", "media_files.segment_counts"], ["media_files.list_page"]):
        seen.clear()
        page = MediaFileRepository(conn).list_page(lib.owner, filters=everything, q="z-", sort="title")
        assert lib.names([row.uuid for row in page.items]) == ["a"]
        assert seen == statements_sent


@pytest.mark.parametrize(
    ("filters", "field"),
    [
        ({"statuses": ["done"]}, "status"),
        ({"duration_min": 10, "duration_max": 5}, "duration_min"),
        ({"duration_max": -1}, "duration_max"),
        ({"tags": [f"t{i}" for i in range(21)]}, "tags"),
        ({"transcript": "x" * 201}, "transcript"),
    ],
)
def test_bad_filters_are_refused_naming_the_field(
    conn: Conn, lib: Library, filters: dict[str, Any], field: str
) -> None:
    with pytest.raises(Invalid) as info:
        MediaFileRepository(conn).list_page(lib.owner, filters=LibraryFilter(**filters))
    assert info.value.field == field


def test_search_takes_the_same_filters(conn: Conn, lib: Library) -> None:
    search = SearchRepository(conn)

    def found(**filters: Any) -> set[str]:
        return set(
            lib.names([hit.file_uuid for hit in search.search(lib.owner, "budget", filters=LibraryFilter(**filters))])
        )

    assert found() == {"a", "e", "g"}
    assert found(tags=["blue"]) == {"a", "e"}
    assert found(speaker="dora") == {"g"}
    assert found(duration_min=50, media_type="audio") == {"g"}
    assert found(profile_uuid=lib.foreign_profile) == set()
    assert found(statuses=["error"]) == set()


def test_filter_values_count_the_actors_files_only(conn: Conn, lib: Library) -> None:
    values = filter_values(conn, lib.owner)
    assert values.file_count == 7
    assert [(t.name, t.file_count) for t in values.tags] == [("blue", 3), ("green", 2), ("red", 4)]
    assert sorted((s.name, s.file_count) for s in values.speakers) == [
        ("ANN", 1),
        ("Ann", 1),
        ("Bob", 1),
        ("Carl", 1),
        ("Dora", 1),
        ("SPEAKER_01", 1),
    ]
    assert [(p.uuid == lib.ann_lee, p.name, p.file_count) for p in values.profiles] == [
        (True, "Ann Lee", 2),
        (False, "Carl", 1),
    ]
    assert [(s.name, s.file_count) for s in values.statuses] == [
        ("cancelled", 1),
        ("completed", 4),
        ("error", 1),
        ("queued", 1),
    ]
    assert [(m.name, m.file_count) for m in values.media_types] == [("audio", 4), ("video", 3)]
    assert (values.duration_min, values.duration_max) == (45.0, 3600.0)
    assert (values.uploaded_first, values.uploaded_last) == (day(1), day(7))
    assert (values.recorded_first, values.recorded_last) == (day(1), day(9))
    empty = filter_values(conn, factories.user(conn))
    assert (empty.file_count, empty.tags, empty.profiles, empty.duration_min) == (0, [], [], None)
