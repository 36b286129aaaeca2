from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import psycopg
import pytest

from repo import statements
from repo.database import Database
from repo.errors import Conflict, Invalid, NotFound, Stale
from repo.rows import Actor
from repo.segments import SegmentRepository
from tests import factories
from transcript.segments import Segment, TranscriptSegment, Word, words_from_json

Conn = psycopg.Connection[Any]


def _seg(i: int, label: str | None = "SPEAKER_00", text: str | None = None) -> Segment:
    words = (Word(f"w{i}", float(i), i + 0.5, 0.9),)
    return Segment(float(i), i + 0.9, text or f"segment {i}", label, words)


def _file(conn: Conn) -> tuple[Actor, int, uuid.UUID]:
    owner = factories.user(conn)
    file_id, file_uuid = factories.media_file(conn, owner)
    return owner, file_id, file_uuid


def test_replace_then_read_returns_segments_in_time_order_with_speakers(conn: Conn) -> None:
    owner, file_id, file_uuid = _file(conn)
    repo = SegmentRepository(conn)
    segments = [_seg(2, "SPEAKER_01"), _seg(0, "SPEAKER_00"), _seg(1, None)]
    counts = repo.replace_transcript(file_id, segments)
    assert (counts.segments, counts.speakers) == (3, 2)

    read = repo.transcript(owner, file_uuid)
    assert [seg.text for seg in read] == ["segment 0", "segment 1", "segment 2"]
    assert [seg.speaker_label for seg in read] == ["SPEAKER_00", None, "SPEAKER_01"]
    assert read[0].speaker_name == "SPEAKER_00" and read[1].speaker_uuid is None
    assert read[0].words == [{"word": "w0", "start": 0.0, "end": 0.5, "score": 0.9}]
    owners = conn.execute("SELECT DISTINCT user_id FROM speakers WHERE media_file_id = %s", (file_id,)).fetchall()
    assert owners == [(owner.id,)]


def test_speaker_name_is_the_display_name_when_set(conn: Conn) -> None:
    owner, file_id, file_uuid = _file(conn)
    repo = SegmentRepository(conn)
    repo.replace_transcript(file_id, [_seg(0)])
    conn.execute("UPDATE speakers SET display_name = 'Ann' WHERE media_file_id = %s", (file_id,))
    assert repo.transcript(owner, file_uuid)[0].speaker_name == "Ann"


def test_empty_transcript_of_a_visible_file_is_empty_not_missing(conn: Conn) -> None:
    owner, _, file_uuid = _file(conn)
    admin = factories.user(conn, admin=True)
    repo = SegmentRepository(conn)
    assert repo.transcript(owner, file_uuid) == []
    assert repo.transcript(admin.seeing_all(), file_uuid) == []
    with pytest.raises(NotFound):  # an admin reaches another's file only in the all-files view
        repo.transcript(admin, file_uuid)


def test_another_users_file_is_not_found_for_every_method(conn: Conn) -> None:
    owner, file_id, file_uuid = _file(conn)
    repo = SegmentRepository(conn)
    repo.replace_transcript(file_id, [_seg(0), _seg(1, "SPEAKER_01")])
    segment = repo.transcript(owner, file_uuid)[0]
    other = factories.user(conn)
    with pytest.raises(NotFound):
        repo.transcript(other, file_uuid)
    with pytest.raises(NotFound):
        repo.transcript(owner, uuid.uuid4())
    with pytest.raises(NotFound):
        repo.update_segment(other, file_uuid, segment.uuid, text="stolen")
    with pytest.raises(NotFound):
        repo.update_segment(other, file_uuid, segment.uuid, speaker_uuid=segment.speaker_uuid)
    with pytest.raises(NotFound):
        repo.update_segment(owner, uuid.uuid4(), segment.uuid, text="wrong file")
    assert repo.transcript(owner, file_uuid)[0].text == "segment 0"


def test_update_segment_changes_text_times_and_speaker(conn: Conn) -> None:
    owner, file_id, file_uuid = _file(conn)
    repo = SegmentRepository(conn)
    repo.replace_transcript(file_id, [_seg(0, "SPEAKER_00"), _seg(1, "SPEAKER_01")])
    first, second = repo.transcript(owner, file_uuid)

    updated = repo.update_segment(owner, file_uuid, first.uuid, text="Hello there", speaker_uuid=second.speaker_uuid)
    assert (updated.text, updated.speaker_label, updated.start_time) == ("Hello there", "SPEAKER_01", 0.0)
    moved = repo.update_segment(owner, file_uuid, first.uuid, start_time=0.25, end_time=0.75)
    assert (moved.start_time, moved.end_time, moved.text) == (0.25, 0.75, "Hello there")
    assert repo.transcript(owner, file_uuid)[0] == moved


def test_update_segment_rejects_a_speaker_of_another_file_and_bad_times(conn: Conn) -> None:
    owner, file_id, file_uuid = _file(conn)
    other_file_id, other_file_uuid = factories.media_file(conn, owner)
    repo = SegmentRepository(conn)
    repo.replace_transcript(file_id, [_seg(0)])
    repo.replace_transcript(other_file_id, [_seg(0, "SPEAKER_09")])
    segment = repo.transcript(owner, file_uuid)[0]
    foreign_speaker = repo.transcript(owner, other_file_uuid)[0].speaker_uuid
    assert foreign_speaker is not None

    for speaker_uuid in (foreign_speaker, uuid.uuid4()):
        with pytest.raises(Conflict) as info:
            repo.update_segment(owner, file_uuid, segment.uuid, speaker_uuid=speaker_uuid)
        assert info.value.field == "speaker_uuid"
    with pytest.raises(Conflict) as order:
        repo.update_segment(owner, file_uuid, segment.uuid, start_time=5.0, end_time=1.0)
    assert order.value.field == "end_time"
    with pytest.raises(Invalid), conn.transaction():
        repo.update_segment(owner, file_uuid, segment.uuid, end_time=-1.0)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (Segment(5.0, 4.0, "backwards", None, None), "end_time"),
        (Segment(-1.0, 4.0, "negative", None, None), "start_time"),
        (Segment(float("nan"), 4.0, "nan", None, None), "finite"),
        (Segment(1.0, 2.0, "nul\x00", None, None), "NUL"),
        (Segment(1.0, 2.0, "no label", "", None), "speaker_label"),
        (Segment(0.0, 0.9, "segment 0", None, None), "repeats"),
    ],
)
def test_invalid_segments_are_rejected_up_front_naming_the_index(conn: Conn, bad: Segment, message: str) -> None:
    owner, file_id, file_uuid = _file(conn)
    repo = SegmentRepository(conn)
    repo.replace_transcript(file_id, [_seg(7)])
    with pytest.raises(Invalid, match=f"segment 2: .*{message}"):
        repo.replace_transcript(file_id, [_seg(0), _seg(1), bad])
    assert [seg.text for seg in repo.transcript(owner, file_uuid)] == ["segment 7"]


def test_rerunning_replace_leaves_exactly_one_transcript(conn: Conn) -> None:
    owner, file_id, file_uuid = _file(conn)
    repo = SegmentRepository(conn)
    segments = [_seg(0, "SPEAKER_00"), _seg(1, "SPEAKER_01"), _seg(2, "SPEAKER_00")]
    repo.replace_transcript(file_id, segments)
    conn.execute(
        "UPDATE speakers SET display_name = 'Ann' WHERE label = 'SPEAKER_00' AND media_file_id = %s", (file_id,)
    )
    counts = repo.replace_transcript(file_id, segments)
    assert (counts.segments, counts.speakers) == (3, 2)
    assert [seg.text for seg in repo.transcript(owner, file_uuid)] == ["segment 0", "segment 1", "segment 2"]
    speakers = conn.execute(
        "SELECT label, display_name FROM speakers WHERE media_file_id = %s ORDER BY label", (file_id,)
    ).fetchall()
    assert speakers == [("SPEAKER_00", "Ann"), ("SPEAKER_01", None)]

    repo.replace_transcript(file_id, [_seg(5, "SPEAKER_02")])
    assert [(seg.text, seg.speaker_label) for seg in repo.transcript(owner, file_uuid)] == [("segment 5", "SPEAKER_02")]
    labels = conn.execute("SELECT label FROM speakers WHERE media_file_id = %s", (file_id,)).fetchall()
    assert labels == [("SPEAKER_02",)]
    assert repo.replace_transcript(file_id, []) == type(counts)(0, 0)
    assert repo.transcript(owner, file_uuid) == []
    assert conn.execute("SELECT count(*) FROM speakers WHERE media_file_id = %s", (file_id,)).fetchone() == (0,)


def test_replace_on_a_missing_file_is_not_found(conn: Conn) -> None:
    with pytest.raises(NotFound), conn.transaction():
        SegmentRepository(conn).replace_transcript(-1, [_seg(0)])


def test_copy_ingest_of_100k_segments_round_trips_exactly(conn: Conn) -> None:
    owner, file_id, file_uuid = _file(conn)
    repo = SegmentRepository(conn)
    segments = [_seg(i, f"SPEAKER_{i % 4:02d}", f"line {i} of a long meeting") for i in range(100_000)]
    counts = repo.replace_transcript(file_id, segments)  # its speed is bench/'s business (measure 4), not a test's
    assert (counts.segments, counts.speakers) == (100_000, 4)

    read = repo.transcript(owner, file_uuid)
    assert len(read) == 100_000
    for index in [0, 1, 4_242, 31_337, 77_777, 99_999]:
        expected, got = segments[index], read[index]
        assert (got.start_time, got.end_time, got.text, words_from_json(got.words), got.speaker_label) == (
            expected.start_time,
            expected.end_time,
            expected.text,
            expected.words,
            expected.speaker_label,
        )
    assert [seg.text for seg in read[::997]] == [seg.text for seg in segments[::997]]


def _texts(conn: Conn, file_id: int) -> set[str]:
    rows = conn.execute("SELECT text FROM transcript_segments WHERE media_file_id = %s", (file_id,)).fetchall()
    return {row[0] for row in rows}


def test_a_concurrent_reader_sees_all_old_or_all_new(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    with db.transaction() as setup:
        owner, file_id, file_uuid = _file(setup)
        old = [_seg(i, "SPEAKER_00", f"old {i}") for i in range(500)]
        SegmentRepository(setup).replace_transcript(file_id, old)
    new = [_seg(i, "SPEAKER_01", f"new {i}") for i in range(700)]
    old_texts, new_texts = {seg.text for seg in old}, {seg.text for seg in new}
    seen_mid_way: list[tuple[str, set[str]]] = []

    with psycopg.connect(db.url, autocommit=True) as reader:

        def read_mid_way(name: str, elapsed_ms: float) -> None:
            if name.startswith("segments."):
                seen_mid_way.append((name, _texts(reader, file_id)))

        monkeypatch.setattr(statements, "observers", [read_mid_way])
        with db.transaction() as writer:
            SegmentRepository(writer).replace_transcript(file_id, new)
        monkeypatch.setattr(statements, "observers", [])
        after = _texts(reader, file_id)
        with db.transaction() as check:
            read = SegmentRepository(check).transcript(owner, file_uuid)

    assert "segments.copy_segments" in [name for name, _ in seen_mid_way]
    assert all(texts == old_texts for _, texts in seen_mid_way)
    assert after == new_texts
    assert {seg.speaker_label for seg in read} == {"SPEAKER_01"} and len(read) == 700


def test_transcript_json_is_the_transcript_field_for_field(conn: psycopg.Connection[Any]) -> None:
    import json

    from pydantic import TypeAdapter

    from web.transcripts import SegmentOut

    owner = factories.user(conn)
    file_id, file_uuid = factories.media_file(conn, owner)
    segments = SegmentRepository(conn)
    words = (Word("Hi", 0.25, 0.5, 0.9),)
    segments.replace_transcript(
        file_id,
        [
            Segment(0.0, 1.5, 'Hi "there" <b>', "SPEAKER_00", words),
            Segment(1.5, 3.0, "ünïcode ✓", None, None),
            Segment(3.0, 4.25, "third", "SPEAKER_01", ()),
        ],
    )
    conn.execute(
        "UPDATE speakers SET display_name = 'Ann' WHERE media_file_id = %s AND label = 'SPEAKER_00'", [file_id]
    )
    adapter = TypeAdapter(list[SegmentOut])
    rows = adapter.validate_python(segments.transcript(owner, file_uuid), from_attributes=True)
    expected = adapter.dump_python(rows, mode="json")
    assert json.loads(segments.transcript_json(owner, file_uuid).body) == expected
    assert expected[0]["speaker_name"] == "Ann" and expected[1]["speaker_uuid"] is None


def test_transcript_json_of_an_invisible_or_empty_file(conn: psycopg.Connection[Any]) -> None:
    owner, stranger = factories.user(conn), factories.user(conn)
    _, file_uuid = factories.media_file(conn, owner)
    assert SegmentRepository(conn).transcript_json(owner, file_uuid).body == "[]"
    with pytest.raises(NotFound):
        SegmentRepository(conn).transcript_json(stranger, file_uuid)


def test_word_timings_keep_their_values_and_refuse_what_json_cannot_hold(conn: psycopg.Connection[Any]) -> None:
    owner = factories.user(conn)
    file_id, file_uuid = factories.media_file(conn, owner)
    segments = SegmentRepository(conn)
    odd = (
        Word('ü "q" \\ \u2028', 1e-7, None, 1.2345678901234567e19, "Roger Bingham"),
        Word("null"),  # orjson's output then holds "null": the check for NaN must not refuse it
        Word(" 会議", 0.5, 0.75, 0.0),
    )
    segments.replace_transcript(file_id, [Segment(0.0, 1.0, "odd words", None, odd)])
    assert segments.transcript(owner, file_uuid)[0].words == [
        {"word": 'ü "q" \\ \u2028', "start": 1e-7, "score": 1.2345678901234567e19, "speaker": "Roger Bingham"},
        {"word": "null"},
        {"word": " 会議", "start": 0.5, "end": 0.75, "score": 0.0},
    ]
    for bad in (Word("x", float("nan")), Word("x", 0.0, float("inf")), Word("x", score=float("-inf"))):
        with pytest.raises(Invalid, match=r"segment 0: word 1: .* must be a finite number") as refused:
            segments.replace_transcript(file_id, [Segment(0.0, 1.0, "bad", None, (bad,))])
        assert refused.value.field == "words"
    assert [s.text for s in segments.transcript(owner, file_uuid)] == ["odd words"]  # the refused ones changed nothing


def test_an_edit_with_the_version_read_bumps_it_and_a_stale_one_changes_nothing(conn: Conn) -> None:
    owner, file_id, file_uuid = _file(conn)
    repo = SegmentRepository(conn)
    repo.replace_transcript(file_id, [_seg(0)])
    read = repo.transcript(owner, file_uuid)[0]
    assert read.version == 1 and repo.segment(owner, file_uuid, read.uuid) == read
    edited = repo.update_segment(owner, file_uuid, read.uuid, text="会議 🎉", if_versions=[1])
    assert (edited.text, edited.version) == ("会議 🎉", 2)
    with pytest.raises(Stale) as stale:
        repo.update_segment(owner, file_uuid, read.uuid, text="مرحبا", if_versions=[1])
    assert stale.value.version == 2 and stale.value.current == edited
    assert repo.transcript(owner, file_uuid) == [edited]
    with pytest.raises(NotFound):
        repo.update_segment(factories.user(conn), file_uuid, read.uuid, text="x", if_versions=[2])


def test_two_transactions_editing_from_the_same_version_cannot_both_pass(fresh_url: str) -> None:
    """The second UPDATE waits on the first one's row lock, then re-checks the version it now sees: no row."""
    with psycopg.connect(fresh_url, autocommit=True) as setup:
        owner = factories.user(setup)
        file_id, file_uuid = factories.media_file(setup, owner)
        SegmentRepository(setup).replace_transcript(file_id, [_seg(0)])
        segment_uuid = SegmentRepository(setup).transcript(owner, file_uuid)[0].uuid
    outcome: dict[str, Any] = {}
    with psycopg.connect(fresh_url) as first, psycopg.connect(fresh_url) as second:
        SegmentRepository(first).update_segment(owner, file_uuid, segment_uuid, text="first 👩‍💻", if_versions=[1])
        second_pid = second.info.backend_pid

        def write_second() -> None:
            try:
                SegmentRepository(second).update_segment(owner, file_uuid, segment_uuid, text="second", if_versions=[1])
            except Stale as exc:
                outcome["stale"] = exc
            second.commit()

        thread = threading.Thread(target=write_second)
        thread.start()
        with psycopg.connect(fresh_url, autocommit=True) as watch:  # until the second one waits on the row lock
            while not watch.execute(
                "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %s", [second_pid]
            ).fetchone()[0]:  # type: ignore[index]
                time.sleep(0.01)
        first.commit()
        thread.join()
    stale = outcome["stale"]
    assert isinstance(stale, Stale) and isinstance(stale.current, TranscriptSegment)
    assert stale.version == stale.current.version == 2 and stale.current.text == "first 👩‍💻"
    with psycopg.connect(fresh_url) as check:
        assert SegmentRepository(check).transcript(owner, file_uuid)[0].text == "first 👩‍💻"


def test_a_replacement_that_fails_midway_leaves_the_old_transcript_whole(
    conn: Conn, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner, file_id, file_uuid = _file(conn)
    repo = SegmentRepository(conn)
    old = [_seg(i, "SPEAKER_00", f"old {i}") for i in range(50)]
    repo.replace_transcript(file_id, old)
    before = repo.transcript(owner, file_uuid)

    def fail_after_the_segments(name: str, elapsed_ms: float) -> None:
        if name == "segments.copy_segments":  # the new segments are in; their words are not
            raise ConnectionError("the worker died here")

    monkeypatch.setattr(statements, "observers", [fail_after_the_segments])
    with pytest.raises(ConnectionError):
        repo.replace_transcript(file_id, [_seg(i, "SPEAKER_01", f"new {i}") for i in range(80)])
    monkeypatch.setattr(statements, "observers", [])
    assert repo.transcript(owner, file_uuid) == before  # texts, words, speakers, uuids and versions
    labels = conn.execute("SELECT label FROM speakers WHERE media_file_id = %s", (file_id,)).fetchall()
    assert labels == [("SPEAKER_00",)]


def test_binary_copy_keeps_every_script_and_extreme_number_exactly(conn: Conn) -> None:
    owner, file_id, file_uuid = _file(conn)
    repo = SegmentRepository(conn)
    segments = [
        Segment(0.0, 1.25, "会議を始めます 🎙️", "話者 1", (Word(" 会議を", 0.0, 0.8, 0.97), Word(" 🎙️", 0.8, 1.25))),
        Segment(1.25, 2.5, "مرحبا بكم في الاجتماع", "متحدث أ", (Word("مرحبا", 1.25, 1.5, 0.5, "متحدث أ"),)),
        Segment(2.5, 1e308, "Grüße aus Köln, ÄÖÜß", None, (Word("Grüße", 5e-324, 1e308, 1.0),)),
        Segment(0.1 + 0.2, 0.30000000000000004 + 1, 'tab\tnewline\nbackslash\\ "quoted"', "SPEAKER_00", ()),
    ]
    repo.replace_transcript(file_id, segments)
    read = repo.transcript(owner, file_uuid)
    assert [(s.start_time, s.end_time, s.text, s.speaker_label, words_from_json(s.words)) for s in read] == [
        (s.start_time, s.end_time, s.text, s.speaker_label, s.words)
        for s in sorted(segments, key=lambda s: (s.start_time, s.end_time))  # as read: in time order
    ]
    assert len({s.uuid for s in read}) == 4 and {s.uuid.version for s in read} == {7}
    served = repo.transcript_json(owner, file_uuid).body
    assert "会議を始めます 🎙️" in served and "مرحبا" in served and '"start":5e-324,"end":1e+308' in served


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
def test_a_segment_time_that_is_not_finite_is_refused_not_stored(conn: Conn, number: float) -> None:
    # binary COPY would carry NaN and infinity to the server as they are, and NaN >= 0 is true in PostgreSQL
    owner, file_id, file_uuid = _file(conn)
    repo = SegmentRepository(conn)
    with pytest.raises(Invalid, match="segment 1: times must be finite numbers"):
        repo.replace_transcript(file_id, [_seg(0), Segment(1.0, number, "never", None, None)])
    assert repo.transcript(owner, file_uuid) == []
