"""Migration 0005 (segment_words, transcript versions) on a database that holds data at the previous version."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from yoyo import get_backend

from repo import schema
from tests import factories

THIS = "0005_segment_words"
SEGMENTS = 12_345  # more than two of the migration's 5,000-segment batches, and a partial last one


def _backend(url: str) -> Any:
    return get_backend(schema.yoyo_uri(url))


def _at_previous_version(url: str) -> None:
    backend = _backend(url)
    try:
        migrations = schema.read_migrations()
        with backend.lock():
            backend.apply_migrations(backend.to_apply(migrations.filter(lambda m: m.id < THIS)))
    finally:
        backend.connection.close()


def _step(url: str, direction: str) -> None:
    backend = _backend(url)
    try:
        this = schema.read_migrations().filter(lambda m: m.id == THIS)
        with backend.lock():
            if direction == "apply":
                backend.apply_migrations(backend.to_apply(this))
            else:
                backend.rollback_migrations(backend.to_rollback(this))
    finally:
        backend.connection.close()


def _words(i: int) -> list[dict[str, Any]] | None:
    if i % 10 == 3:
        return None  # segments without word timings stay without
    return [{"word": f"w{i}", "start": i * 0.5, "end": i * 0.5 + 0.25, "score": 0.5 + (i % 7) / 20}, {"word": 'ü"x'}]


def test_the_migration_moves_every_word_timing_and_rollback_restores_them(empty_url: str) -> None:
    _at_previous_version(empty_url)
    with psycopg.connect(empty_url, autocommit=True) as conn:
        owner = factories.user(conn)
        file_ids = [factories.media_file(conn, owner)[0] for _ in range(3)]
        with (
            conn.cursor() as cur,
            cur.copy("COPY transcript_segments (media_file_id, start_time, end_time, text, words) FROM STDIN") as copy,
        ):
            for i in range(SEGMENTS):
                words = _words(i)
                copy.write_row(
                    (file_ids[i % 3], i * 0.5, i * 0.5 + 0.4, f"s{i}", None if words is None else Jsonb(words))
                )
        before = conn.execute("SELECT id, words FROM transcript_segments ORDER BY id").fetchall()

    _step(empty_url, "apply")
    with psycopg.connect(empty_url, autocommit=True) as conn:
        columns = [r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'transcript_segments'"
        )]  # fmt: skip
        assert "words" not in columns
        moved: dict[int, Any] = dict(conn.execute("SELECT segment_id, words FROM segment_words").fetchall())
        assert len(moved) == sum(1 for _, words in before if words is not None)
        assert all(moved.get(segment_id) == words for segment_id, words in before if words is not None)
        # an edit after the migration moves its file's transcript version on (the ETag)
        version = "SELECT coalesce(max(version), 0) FROM transcript_versions WHERE media_file_id = %s"
        old = conn.execute(version, [file_ids[0]]).fetchone()
        conn.execute("UPDATE transcript_segments SET text = 'edited' WHERE id = %s", [before[0][0]])
        new = conn.execute(version, [file_ids[0]]).fetchone()
        assert old is not None and new is not None and new[0] > old[0]

    _step(empty_url, "rollback")
    with psycopg.connect(empty_url, autocommit=True) as conn:
        after = conn.execute("SELECT id, words FROM transcript_segments ORDER BY id").fetchall()
        assert after == before
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        assert "segment_words" not in tables and "transcript_versions" not in tables
        staged = conn.execute(
            "SELECT data_type FROM information_schema.columns WHERE table_name = 'transcript_staging' "
            "AND column_name = 'words'"
        ).fetchone()
        assert staged == ("jsonb",)
