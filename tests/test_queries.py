from __future__ import annotations

from pathlib import Path

import pytest

from repo import queries
from repo.errors import QueryLoadError

GOOD = """
-- name: get_thing :one?
-- Fetch one thing.
SELECT id FROM things WHERE id = %(id)s AND owner = %(owner)s AND note LIKE 'a%%';

-- name: count_things :scalar
SELECT count(*) FROM things;

-- name: load_things :copy
COPY things (id) FROM STDIN;
"""


def test_parses_names_markers_and_parameters() -> None:
    parsed = queries.parse_file(GOOD, "things", "things.sql")
    assert set(parsed) == {"get_thing", "count_things", "load_things"}
    get = parsed["get_thing"]
    assert get.name == "things.get_thing" and get.marker == ":one?"
    assert get.params == {"id", "owner"}
    assert get.source == "things.sql:2"
    assert not get.sql.endswith(";") and "Fetch one thing" not in get.sql


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-- name: a :one\nSELECT 1;\n-- name: a :many\nSELECT 2;", "duplicate query name 'a'"),
        ("-- name: a :all\nSELECT 1;", "unknown marker ':all'"),
        ("-- name: a\nSELECT 1;", "expected '-- name: <name> <marker>'"),
        ("-- name: Bad-Name :one\nSELECT 1;", "bad query name"),
        ("-- name: a :one\n-- only a comment\n", "has no SQL"),
        ("SELECT 1;\n-- name: a :one\nSELECT 1;", "SQL before the first"),
        ("-- name: a :copy\nSELECT 1;", "must be COPY"),
    ],
)
def test_malformed_files_fail_at_load_naming_the_line(text: str, message: str) -> None:
    with pytest.raises(QueryLoadError, match=message) as info:
        queries.parse_file(text, "x", "x.sql")
    assert "x.sql:" in str(info.value)


def test_load_directory_namespaces_subfolders(tmp_path: Path) -> None:
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "daily.sql").write_text("-- name: totals :many\nSELECT 1 AS n;")
    (tmp_path / "init_db.sql").write_text("CREATE TABLE not_a_query (id int);")
    assert set(queries.load_directory(tmp_path)) == {"reports.daily.totals"}


def test_wrong_parameters_are_a_clear_type_error() -> None:
    query = queries.parse_file(GOOD, "things", "things.sql")["get_thing"]
    with pytest.raises(TypeError, match=r"missing \['owner'\] unexpected \['own'\]"):
        query.check_params({"id", "own"})


def test_the_project_sql_loads() -> None:
    loaded = queries.all_queries()
    assert "users.create" in loaded
    assert all(q.marker in queries.MARKERS for q in loaded.values())
