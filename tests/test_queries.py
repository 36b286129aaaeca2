from __future__ import annotations

from pathlib import Path

import pytest

from repo import queries
from repo.errors import QueryLoadError

pytestmark = pytest.mark.same_on_every_server  # reaches no server DATABASE_URL / REDIS_URL name (see conftest)

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


FRAGMENTS = """
-- fragment: thing_columns
-- The Thing row.
id, owner,
    note

-- name: get_thing :one
SELECT {{thing_columns}} FROM things WHERE id = %(id)s;

-- name: update_thing :one
UPDATE things SET note = %(note)s WHERE id = %(id)s RETURNING {{thing_columns}};
"""


def test_a_fragment_is_written_once_and_pasted_into_each_query() -> None:
    parsed = queries.parse_file(FRAGMENTS, "things", "things.sql")
    assert set(parsed) == {"get_thing", "update_thing"}
    assert parsed["get_thing"].sql == "SELECT id, owner,\n    note FROM things WHERE id = %(id)s"
    assert parsed["update_thing"].sql.endswith("RETURNING id, owner,\n    note")
    assert parsed["update_thing"].params == {"note", "id"}
    assert parsed["update_thing"].source == "things.sql:10"


def test_a_fragment_may_carry_parameters() -> None:
    text = "-- fragment: mine\nowner = %(owner)s\n-- name: mine :many\nSELECT id FROM things WHERE {{mine}};"
    assert queries.parse_file(text, "x", "x.sql")["mine"].params == {"owner"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-- name: a :one\nSELECT {{columns}} FROM t;", r"x.sql:1: unknown fragment \{\{columns\}\}"),
        ("-- name: a :one\nSELECT 1 WHERE '{{a}}' <> '';", r"x.sql:1: unknown fragment \{\{a\}\}"),
        ("-- fragment: c\nid\n-- name: a :one\nSELECT 1;", "x.sql: fragment 'c' is not used"),
        ("-- fragment: c\nid\n-- fragment: c\nid\n-- name: a :one\nSELECT {{c}};", "x.sql:3: duplicate fragment"),
        ("-- fragment: c\n-- nothing\n-- name: a :one\nSELECT {{c}};", "x.sql:1: fragment 'c' has no SQL"),
        ("-- fragment: c\n{{d}}\n-- fragment: d\nid\n-- name: a :one\nSELECT {{c}};", "includes another fragment"),
        ("-- fragment: c :one\nid\n-- name: a :one\nSELECT {{c}};", "expected '-- fragment: <name>'"),
        ("-- fragment: Bad-Name\nid\n-- name: a :one\nSELECT 1;", "bad fragment name"),
    ],
)
def test_fragment_mistakes_fail_at_load(text: str, message: str) -> None:
    with pytest.raises(QueryLoadError, match=message):
        queries.parse_file(text, "x", "x.sql")


def _sql_dir(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def test_a_shared_fragment_is_pasted_into_queries_of_several_files(tmp_path: Path) -> None:
    directory = _sql_dir(
        tmp_path,
        {
            "fragments.sql": "-- fragment: mine\nowner = %(owner)s\n",
            "a.sql": "-- name: list :many\nSELECT id FROM a WHERE {{mine}};",
            "b.sql": "-- fragment: cols\nid\n-- name: list :many\nSELECT {{cols}} FROM b WHERE {{mine}} AND x;",
        },
    )
    loaded = queries.load_directory(directory)
    assert set(loaded) == {"a.list", "b.list"}, "fragments.sql is no namespace of queries"
    assert loaded["a.list"].sql == "SELECT id FROM a WHERE owner = %(owner)s"
    assert loaded["b.list"].sql == "SELECT id FROM b WHERE owner = %(owner)s AND x"


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"fragments.sql": "-- fragment: mine\nx\n", "a.sql": "-- name: a :one\nSELECT 1;"}, "'mine' is not used"),
        ({"fragments.sql": "-- name: q :one\nSELECT 1;"}, "fragments.sql:1: fragments.sql holds only fragments"),
        (
            {"fragments.sql": "-- fragment: c\nx\n", "a.sql": "-- fragment: c\ny\n-- name: a :one\nSELECT {{c}};"},
            "a.sql: fragment 'c' is also a shared fragment",
        ),
    ],
)
def test_shared_fragment_mistakes_fail_at_load(tmp_path: Path, files: dict[str, str], message: str) -> None:
    with pytest.raises(QueryLoadError, match=message):
        queries.load_directory(_sql_dir(tmp_path, files))


def test_the_library_filters_are_written_once_for_the_file_list_and_search() -> None:
    users = [q.name for q in queries.all_queries().values() if "%(tags_any)s" in q.sql]
    assert sorted(users) == [
        "meaning.candidate_passages",
        "meaning.nearest_exact",
        "meaning.nearest_indexed",
        "media_files.list_page",
        "search.search",
    ]
    for name in ("media_files.sql", "search.sql", "meaning.sql"):
        assert "tags_any" not in (queries.SQL_FILES / name).read_text(encoding="utf-8")


def test_the_media_file_column_list_is_written_once() -> None:
    text = (queries.SQL_FILES / "media_files.sql").read_text(encoding="utf-8")
    assert text.count("force_delete_eligible") == 1
    users_of_the_list = [q for q in queries.all_queries().values() if "force_delete_eligible" in q.sql]
    assert len(users_of_the_list) == 10  # media_files.sql's 9 and my_data.file (the export's files)
