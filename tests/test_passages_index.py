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
            "EXPLAIN SELECT id FROM passages p WHERE cardinality(p.embedding) = 3 "
            "ORDER BY p.embedding::vector(3) <=> '[1,2,0.5]'::vector(3) LIMIT 5"
        ).fetchall()
        assert index_name(3) in "\n".join(str(r[0]) for r in plan)


def test_without_pgvector_there_is_no_index_to_make(without_vector_url: str) -> None:
    with psycopg.connect(without_vector_url) as conn:
        assert not vector_search_available(conn)
        assert ensure_vector_index(conn, 3) is False
        assert conn.execute("SELECT to_regclass(%s)::text", [index_name(3)]).fetchone() == (None,)


@pytest.mark.parametrize("bad", [0, -1, 5000, 2.5, True])
def test_a_dimension_that_is_no_positive_integer_is_refused(conn: psycopg.Connection[Any], bad: Any) -> None:
    with pytest.raises(ValueError, match="dimension"):
        ensure_vector_index(conn, bad)
