"""The HNSW index of a dimension: created where pgvector is, used by a query written as repo/passages.py says."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from repo.passages import ensure_vector_index, index_name, vector_search_available
from tests import factories


def test_the_index_is_created_once_and_serves_an_ordered_search(vector_url: str) -> None:
    with psycopg.connect(vector_url) as conn:
        assert vector_search_available(conn)
        owner = factories.user(conn)
        file_id, _ = factories.media_file(conn, owner)
        for i in range(50):
            conn.execute(
                "INSERT INTO passages (media_file_id, position, start_time, end_time, text, model, "
                "transcript_version, embedding) VALUES (%s, %s, %s, %s, 'ü', 'm', 1, %s)",
                [file_id, i, i, i + 1, [1.0, float(i), 0.5]],
            )
        assert ensure_vector_index(conn, 3) is True
        assert ensure_vector_index(conn, 3) is True  # a second call finds it
        conn.execute("SET LOCAL enable_seqscan = off")
        plan = conn.execute(
            "EXPLAIN SELECT id FROM passages p WHERE vector_dims(p.embedding_vector) = 3 "
            "ORDER BY p.embedding_vector::vector(3) <=> '[1,2,0.5]'::vector(3) LIMIT 5"
        ).fetchall()
        assert index_name(3) in "\n".join(str(r[0]) for r in plan)


def test_without_pgvector_there_is_no_index_to_make(without_vector_url: str) -> None:
    with psycopg.connect(without_vector_url) as conn:
        assert not vector_search_available(conn)
        assert ensure_vector_index(conn, 3) is False
        assert conn.execute("SELECT to_regclass(%s)::text", [index_name(3)]).fetchone() == (None,)


def test_pgvector_added_later_gets_the_vectors_column_and_index_from_the_next_call(vector_url: str) -> None:
    with psycopg.connect(vector_url) as conn:
        conn.execute("DROP EXTENSION vector CASCADE")  # a database migrated before pgvector was installed
        owner = factories.user(conn)
        file_id, _ = factories.media_file(conn, owner)
        conn.execute(
            "INSERT INTO passages (media_file_id, position, start_time, end_time, text, model, transcript_version, "
            "embedding) VALUES (%s, 0, 0, 1, '会議 😀', 'm', 1, '{0.6,0.8,0}')",
            [file_id],
        )
        conn.execute("CREATE EXTENSION vector")  # what README tells an operator to run
        assert not vector_search_available(conn)  # the passages' vector column is still to make
        assert ensure_vector_index(conn, 3) is True
        assert vector_search_available(conn)
        row = conn.execute("SELECT embedding_vector::text FROM passages WHERE media_file_id = %s", [file_id])
        assert row.fetchone() == ("[0.6,0.8,0]",)


@pytest.mark.parametrize("bad", [0, -1, 5000, 2.5, True])
def test_a_dimension_that_is_no_positive_integer_is_refused(conn: psycopg.Connection[Any], bad: Any) -> None:
    with pytest.raises(ValueError, match="dimension"):
        ensure_vector_index(conn, bad)
