from __future__ import annotations

from dataclasses import dataclass

import psycopg
import pytest

from repo import querycheck, statements
from repo.errors import QueryLoadError


def test_every_named_query_prepares_and_matches_its_row_type(shared_url: str) -> None:
    assert querycheck.check_all(shared_url) == []


def test_the_queries_over_vectors_prepare_where_pgvector_is(vector_url: str) -> None:
    """Queries written with `{N}` (statements.Dimensioned) need pgvector's type: checked on a server that has it."""
    dimensioned = [b for b in querycheck.load_repositories() if isinstance(b, statements.Dimensioned)]
    assert {b.query.name for b in dimensioned} >= {"meaning.nearest_exact", "meaning.nearest_indexed"}
    assert querycheck.check_all(vector_url) == []


@dataclass
class Wrong:
    id: int
    no_such_field: str


def test_a_row_type_that_does_not_match_is_reported(shared_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(statements, "BOUND", [])
    bound = statements.one("users.get_by_id", Wrong)
    with psycopg.connect(shared_url, autocommit=True) as conn:
        problem = querycheck.check_binding(conn, bound)
    assert problem is not None and "no_such_field" in problem and "email" in problem


def test_a_query_that_does_not_prepare_is_reported(shared_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(statements, "BOUND", [])
    bound = statements.execute("users.touch_login")
    object.__setattr__(
        bound,
        "query",
        bound.query.__class__(
            "users.broken", ":exec", "UPDATE users SET nope = 1 WHERE id = %(id)s", frozenset({"id"}), "users.sql:1"
        ),
    )
    with psycopg.connect(shared_url, autocommit=True) as conn:
        problem = querycheck.check_binding(conn, bound)
    assert problem is not None and "does not prepare" in problem and "nope" in problem


def test_binding_with_the_wrong_marker_fails_at_import() -> None:
    with pytest.raises(QueryLoadError, match="is :one, bound as :many"):
        statements.many("users.get_by_id", Wrong)
    with pytest.raises(QueryLoadError, match="no named query"):
        statements.one("users.nope", Wrong)


def test_positional_conversion_reuses_numbers() -> None:
    assert querycheck.to_positional("a = %(x)s AND b = %(y)s OR c = %(x)s AND d LIKE 'z%%'") == (
        "a = $1 AND b = $2 OR c = $1 AND d LIKE 'z%'"
    )
