"""A file's passages and their vectors (repo/passages.py): replaced whole in one transaction, text in every script
and vectors stored exactly, only by the file's owner, never over newer passages; what is stale, per model."""

from __future__ import annotations

from typing import Any

import numpy as np
import psycopg
import pytest

from repo.database import act
from repo.errors import NotFound
from repo.passages import PassageRepository
from repo.rows import Actor
from repo.segments import SegmentRepository
from tests import factories
from transcript.passages import Passage, cut
from transcript.segments import Segment

MODEL = "local/tiny-bert"
SCRIPTS = [
    Segment(0.0, 2.5, "会議を始めます 🎙️", "SPEAKER_00"),
    Segment(2.5, 5.0, "مرحبا بكم في الاجتماع 👋", "SPEAKER_01"),
    Segment(5.0, 7.5, "Grüße aus Köln, Übermorgen wird es heiß", "SPEAKER_00"),
]


def vectors(count: int, seed: int = 1, dimensions: int = 8) -> list[list[float]]:
    rows = np.random.default_rng(seed).standard_normal((count, dimensions)).astype(np.float32)
    unit: list[list[float]] = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).tolist()
    return unit


def transcribed(conn: psycopg.Connection[Any], owner: Actor, segments: list[Segment] = SCRIPTS) -> int:
    file_id, _ = factories.media_file(conn, owner, status="completed")
    SegmentRepository(conn).replace_transcript(file_id, segments)
    return file_id


def embed(conn: psycopg.Connection[Any], owner: Actor, file_id: int, model: str = MODEL, seed: int = 1) -> None:
    repo = PassageRepository(conn)
    source = repo.source(owner, file_id)
    passages = cut(source.segments)
    assert repo.replace(owner, file_id, model, source.version, passages, vectors(len(passages), seed))


def texts(conn: psycopg.Connection[Any], owner: Actor, file_id: int) -> list[str]:
    return [p.text for p in PassageRepository(conn).for_file(owner, file_id)]


def test_text_in_every_script_and_vectors_round_trip_exactly(conn: psycopg.Connection[Any]) -> None:
    owner = factories.user(conn)
    file_id = transcribed(conn, owner)
    repo = PassageRepository(conn)
    source = repo.source(owner, file_id)
    assert source.completed and source.version > 0
    assert [(s.text, s.speaker_label) for s in source.segments] == [(s.text, s.speaker_label) for s in SCRIPTS]
    passages = [Passage(i, s.start_time, s.end_time, s.text) for i, s in enumerate(SCRIPTS)]
    written = vectors(3)

    assert repo.replace(owner, file_id, MODEL, source.version, passages, written) is True

    stored = repo.for_file(owner, file_id)
    assert [p.text for p in stored] == [s.text for s in SCRIPTS]
    # float32 values stored as real: the same float32 values come back (read as the shortest decimal that is them)
    assert np.array_equal(np.asarray([p.embedding for p in stored], np.float32), np.asarray(written, np.float32))
    assert {(p.model, p.transcript_version) for p in stored} == {(MODEL, source.version)}
    reusable = repo.reusable(owner, file_id, MODEL)
    assert set(reusable) == {s.text for s in SCRIPTS}
    assert [reusable[s.text] for s in SCRIPTS] == [p.embedding for p in stored]
    assert repo.reusable(owner, file_id, "another/model") == {}


def test_a_replacement_is_seen_whole_only_after_its_commit(fresh_url: str) -> None:
    """Another connection sees the old set until the commit, then the new one: never a mix, never none."""
    with psycopg.connect(fresh_url, autocommit=True) as setup:
        owner = factories.user(setup)
        file_id = transcribed(setup, owner)
        embed(setup, owner, file_id, seed=1)
        SegmentRepository(setup).update_segment(owner, *_first_segment(setup, file_id), text="Ändern: 新しい テキスト")
    read = "SELECT array_agg(text ORDER BY position), array_agg(embedding[1] ORDER BY position) FROM passages "
    read += "WHERE media_file_id = %s"
    with psycopg.connect(fresh_url, autocommit=True) as writer, psycopg.connect(fresh_url, autocommit=True) as reader:
        old = reader.execute(read, [file_id]).fetchone()
        with writer.transaction():
            act(writer, owner)
            repo = PassageRepository(writer)
            source = repo.source(owner, file_id)
            passages = [Passage(i, s.start_time, s.end_time, s.text) for i, s in enumerate(source.segments)]
            assert repo.replace(owner, file_id, MODEL, source.version, passages, vectors(len(passages), seed=2))
            assert reader.execute(read, [file_id]).fetchone() == old  # not yet committed: the old set, whole
        new = reader.execute(read, [file_id]).fetchone()
    assert old is not None and new is not None
    assert "Ändern: 新しい テキスト" not in " ".join(old[0]) and new[0][0] == "Ändern: 新しい テキスト"
    assert len(new[0]) == len(SCRIPTS) and set(new[1]).isdisjoint(old[1])


def _first_segment(conn: psycopg.Connection[Any], file_id: int) -> Any:
    row = conn.execute(
        "SELECT f.uuid, ts.uuid FROM transcript_segments ts JOIN media_files f ON f.id = ts.media_file_id "
        "WHERE f.id = %s ORDER BY ts.start_time LIMIT 1",
        [file_id],
    ).fetchone()
    assert row is not None
    return row


def test_older_passages_never_replace_newer_ones(conn: psycopg.Connection[Any]) -> None:
    owner = factories.user(conn)
    file_id = transcribed(conn, owner)
    repo = PassageRepository(conn)
    version = repo.source(owner, file_id).version
    newer = [Passage(0, 0.0, 7.5, "neu: 新しい")]
    assert repo.replace(owner, file_id, MODEL, version + 5, newer, vectors(1))

    assert repo.replace(owner, file_id, MODEL, version, [Passage(0, 0.0, 1.0, "alt")], vectors(1)) is False
    assert texts(conn, owner, file_id) == ["neu: 新しい"]
    # another model's passages are no competition: a model change replaces them whatever their version
    assert repo.replace(owner, file_id, "another/model", version, [Passage(0, 0.0, 1.0, "anders")], vectors(1))
    assert texts(conn, owner, file_id) == ["anders"]


def test_only_the_owner_reads_and_writes_a_files_passages(conn: psycopg.Connection[Any]) -> None:
    owner, stranger = factories.user(conn), factories.user(conn)
    file_id = transcribed(conn, owner)
    embed(conn, owner, file_id)
    repo = PassageRepository(conn)

    with pytest.raises(NotFound):
        repo.source(stranger, file_id)
    with pytest.raises(NotFound):
        repo.replace(stranger, file_id, MODEL, 10**9, [Passage(0, 0.0, 1.0, "fremd")], vectors(1))
    assert repo.for_file(stranger, file_id) == []
    assert repo.reusable(stranger, file_id, MODEL) == {}
    # Row-level security alone refuses too: acting for the stranger, even the owner's scope finds nothing.
    with conn.transaction():
        act(conn, stranger)
        with pytest.raises(NotFound):
            repo.source(owner, file_id)
        with pytest.raises(NotFound):
            repo.replace(owner, file_id, MODEL, 10**9, [Passage(0, 0.0, 1.0, "fremd")], vectors(1))
        conn.execute("SELECT set_config('role', 'none', true)")
    assert len(texts(conn, owner, file_id)) == 1 and "fremd" not in texts(conn, owner, file_id)


def test_stale_files_are_missing_of_another_model_older_or_left_over(conn: psycopg.Connection[Any]) -> None:
    owner = factories.user(conn)
    repo = PassageRepository(conn)
    fresh = transcribed(conn, owner)
    embed(conn, owner, fresh)
    missing = transcribed(conn, owner)
    other_model = transcribed(conn, owner)
    embed(conn, owner, other_model, model="intfloat/multilingual-e5-small")
    edited = transcribed(conn, owner)
    embed(conn, owner, edited)
    conn.execute("UPDATE transcript_segments SET text = text || ' ✍️' WHERE media_file_id = %s", [edited])
    emptied = transcribed(conn, owner)
    embed(conn, owner, emptied)
    SegmentRepository(conn).replace_transcript(emptied, [])
    waiting, _ = factories.media_file(conn, owner, status="processing")  # not completed: its job will queue it
    SegmentRepository(conn).replace_transcript(waiting, SCRIPTS)
    factories.media_file(conn, owner, status="completed")  # no transcript, no passages: nothing to do

    stale = {f.file_id: f.reason for f in repo.stale_files(MODEL) if f.user_id == owner.id}

    assert stale == {
        missing: "missing",
        other_model: "another model",
        edited: "older transcript",
        emptied: "no transcript",
    }
    counts = {c.model: (c.files, c.dimensions) for c in repo.counts_by_model()}
    assert counts[MODEL][1] == 8 and counts[MODEL][0] >= 2
    assert counts["intfloat/multilingual-e5-small"][0] >= 1
