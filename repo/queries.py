"""Named SQL queries loaded from `sql/*.sql`.

A file holds blocks like::

    -- name: get_file :one?
    -- Optional description lines.
    SELECT ... WHERE uuid = %(uuid)s

The name is qualified by the file's stem (`files.get_file`). Every block needs a result marker from MARKERS;
a duplicate name, an unknown marker or an empty body is a QueryLoadError at load time.

The files are package data of the `sql` package, read through importlib.resources, so an installed wheel finds them
wherever it is installed (never a path relative to the source checkout).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from importlib.resources.abc import Traversable

from repo.errors import QueryLoadError

SQL_FILES: Traversable = resources.files("sql")
SCHEMA_FILES = frozenset({"init_db.sql"})
MARKERS = frozenset({":one", ":one?", ":many", ":scalar", ":rowcount", ":exec", ":copy"})
HEADER = re.compile(r"^--\s*name:\s*(?P<rest>.*)$")
NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
PARAM = re.compile(r"%\((?P<name>[A-Za-z_][A-Za-z0-9_]*)\)s")


@dataclass(frozen=True, slots=True)
class Query:
    name: str
    marker: str
    sql: str
    params: frozenset[str]
    source: str

    def check_params(self, given: frozenset[str] | set[str]) -> None:
        missing = self.params - given
        extra = set(given) - self.params
        if missing or extra:
            raise TypeError(f"query {self.name} ({self.source}): missing {sorted(missing)} unexpected {sorted(extra)}")


def parse_file(text: str, namespace: str, filename: str) -> dict[str, Query]:
    """Parse one file's named blocks; raise QueryLoadError naming file and line on any defect."""
    queries: dict[str, Query] = {}
    current: tuple[str, str, int] | None = None
    body: list[str] = []

    def close() -> None:
        if current is None:
            return
        name, marker, line = current
        statement = "\n".join(body).strip().rstrip(";").strip()
        code = "\n".join(ln for ln in statement.splitlines() if not ln.lstrip().startswith("--")).strip()
        if not code:
            raise QueryLoadError(f"{filename}:{line}: query {name!r} has no SQL")
        if marker == ":copy" and not re.match(r"(?is)^copy\b.*\bfrom\s+stdin\b", code):
            raise QueryLoadError(f"{filename}:{line}: :copy query {name!r} must be COPY ... FROM STDIN")
        params = frozenset(m.group("name") for m in PARAM.finditer(code))
        queries[name] = Query(f"{namespace}.{name}", marker, code, params, f"{filename}:{line}")

    for number, raw in enumerate(text.splitlines(), start=1):
        match = HEADER.match(raw.strip())
        if match is None:
            if current is None and raw.strip() and not raw.strip().startswith("--"):
                raise QueryLoadError(f"{filename}:{number}: SQL before the first '-- name:' header")
            body.append(raw)
            continue
        close()
        parts = match.group("rest").split()
        if len(parts) != 2:
            raise QueryLoadError(f"{filename}:{number}: expected '-- name: <name> <marker>'")
        name, marker = parts
        if not NAME.match(name):
            raise QueryLoadError(f"{filename}:{number}: bad query name {name!r} (use lower_snake_case)")
        if marker not in MARKERS:
            raise QueryLoadError(f"{filename}:{number}: unknown marker {marker!r}; use one of {sorted(MARKERS)}")
        if name in queries or (current is not None and current[0] == name):
            raise QueryLoadError(f"{filename}:{number}: duplicate query name {name!r}")
        current, body = (name, marker, number), []
    close()
    return queries


def _sql_files(directory: Traversable, folders: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Traversable]]:
    for entry in sorted(directory.iterdir(), key=lambda e: e.name):
        if entry.is_dir():
            yield from _sql_files(entry, (*folders, entry.name))
        elif entry.name.endswith(".sql") and entry.name not in SCHEMA_FILES:
            yield (*folders, entry.name.removesuffix(".sql")), entry


def load_directory(directory: Traversable) -> dict[str, Query]:
    """Load every named-query file below `directory` (a folder or package resources); sub-folders become dotted
    namespaces."""
    loaded: dict[str, Query] = {}
    for parts, entry in _sql_files(directory):
        for query in parse_file(entry.read_text(encoding="utf-8"), ".".join(parts), "/".join(parts) + ".sql").values():
            loaded[query.name] = query
    return loaded


@lru_cache(maxsize=1)
def all_queries() -> dict[str, Query]:
    return load_directory(SQL_FILES)


def get(name: str) -> Query:
    try:
        return all_queries()[name]
    except KeyError:
        raise QueryLoadError(f"no named query {name!r} in {SQL_FILES}") from None
