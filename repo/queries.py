"""Named SQL queries loaded from `sql/*.sql`.

A file holds blocks like::

    -- fragment: file_columns
    id, uuid, filename

    -- name: get_file :one?
    -- Optional description lines.
    SELECT {{file_columns}} FROM media_files WHERE uuid = %(uuid)s

A fragment is a piece of SQL written once and pasted where a query of the same file says `{{name}}`; an unknown or
unused fragment, or a fragment that includes another, is a QueryLoadError like any other defect. `fragments.sql`
holds only fragments, shared by every file (a file's own fragment of the same name is a load error, not a silent
override): what two domains filter alike, such as the library's filters on the file list and on search.

The name is qualified by the file's stem (`files.get_file`). Every block needs a result marker from MARKERS;
a duplicate name, an unknown marker or an empty body is a QueryLoadError at load time.

The files are package data of the `sql` package, read through importlib.resources, so an installed wheel finds them
wherever it is installed (never a path relative to the source checkout).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from repo.errors import QueryLoadError

SQL_FILES: Traversable = resources.files("sql")
SCHEMA_FILES = frozenset({"init_db.sql"})
SHARED_FRAGMENTS = "fragments.sql"
MARKERS = frozenset({":one", ":one?", ":many", ":scalar", ":rowcount", ":exec", ":copy"})
HEADER = re.compile(r"^--\s*(?P<kind>name|fragment):\s*(?P<rest>.*)$")
# `{{fragment_name}}` in a query is replaced by that fragment of the same file. Braces are not psycopg syntax (its
# placeholders start with %), and an accidental match (say a 2-D array literal '{{a}}') fails the load, never silently.
INCLUDE = re.compile(r"\{\{(?P<name>[A-Za-z0-9_]*)\}\}")
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


@dataclass(slots=True)
class _Block:
    kind: str  # "name" or "fragment"
    name: str
    marker: str
    line: int
    body: list[str] = field(default_factory=list)

    def code(self) -> str:
        """The block's SQL without comment lines and without the closing semicolon."""
        statement = "\n".join(self.body).strip().rstrip(";").strip()
        return "\n".join(ln for ln in statement.splitlines() if not ln.lstrip().startswith("--")).strip()


def _header(raw: str, filename: str, number: int) -> _Block | None:
    match = HEADER.match(raw.strip())
    if match is None:
        return None
    kind, parts = match.group("kind"), match.group("rest").split()
    if kind == "fragment":
        if len(parts) != 1:
            raise QueryLoadError(f"{filename}:{number}: expected '-- fragment: <name>'")
        parts.append("")
    elif len(parts) != 2:
        raise QueryLoadError(f"{filename}:{number}: expected '-- name: <name> <marker>'")
    name, marker = parts
    if not NAME.match(name):
        raise QueryLoadError(f"{filename}:{number}: bad {'fragment' if kind == 'fragment' else 'query'} name {name!r}")
    if kind == "name" and marker not in MARKERS:
        raise QueryLoadError(f"{filename}:{number}: unknown marker {marker!r}; use one of {sorted(MARKERS)}")
    return _Block(kind, name, marker, number)


def _fragments(blocks: list[_Block], filename: str) -> dict[str, str]:
    fragments: dict[str, str] = {}
    for block in blocks:
        if block.kind != "fragment":
            continue
        code = block.code()
        if not code:
            raise QueryLoadError(f"{filename}:{block.line}: fragment {block.name!r} has no SQL")
        if INCLUDE.search(code):
            raise QueryLoadError(f"{filename}:{block.line}: fragment {block.name!r} includes another fragment")
        if block.name in fragments:
            raise QueryLoadError(f"{filename}:{block.line}: duplicate fragment name {block.name!r}")
        fragments[block.name] = code
    return fragments


def parse_file(
    text: str, namespace: str, filename: str, shared: dict[str, str] | None = None, used_shared: set[str] | None = None
) -> dict[str, Query]:
    """Parse one file's named blocks; raise QueryLoadError naming file and line on any defect. `shared` fragments
    (from fragments.sql) may be included too; the ones included are added to `used_shared`."""
    blocks = _blocks(text, filename)
    fragments = _fragments(blocks, filename)
    shared = shared or {}
    clash = sorted(set(fragments) & set(shared))
    if clash:
        raise QueryLoadError(f"{filename}: fragment {clash[0]!r} is also a shared fragment of {SHARED_FRAGMENTS}")
    used: set[str] = set()
    queries: dict[str, Query] = {}
    for block in blocks:
        if block.kind != "name":
            continue
        name, where = block.name, f"{filename}:{block.line}"
        if name in queries:
            raise QueryLoadError(f"{where}: duplicate query name {name!r}")

        def include(match: re.Match[str], where: str = where) -> str:
            wanted = match.group("name")
            if wanted in fragments:
                used.add(wanted)
                return fragments[wanted]
            if wanted in shared:
                if used_shared is not None:
                    used_shared.add(wanted)
                return shared[wanted]
            raise QueryLoadError(f"{where}: unknown fragment {{{{{wanted}}}}}")

        code = INCLUDE.sub(include, block.code())
        if not code:
            raise QueryLoadError(f"{where}: query {name!r} has no SQL")
        if block.marker == ":copy" and not re.match(r"(?is)^copy\b.*\bfrom\s+stdin\b", code):
            raise QueryLoadError(f"{where}: :copy query {name!r} must be COPY ... FROM STDIN")
        params = frozenset(m.group("name") for m in PARAM.finditer(code))
        queries[name] = Query(f"{namespace}.{name}", block.marker, code, params, where)
    unused = sorted(set(fragments) - used)
    if unused:
        raise QueryLoadError(f"{filename}: fragment {unused[0]!r} is not used by any query")
    return queries


def parse_shared_fragments(text: str, filename: str = SHARED_FRAGMENTS) -> dict[str, str]:
    """The shared fragments. Unlike a file's own fragments, one may include a shared fragment defined above it (the
    library filter uses the collection access rule): the access rules are then written once, and there is no cycle."""
    blocks = _blocks(text, filename)
    fragments: dict[str, str] = {}
    for block in blocks:
        if block.kind != "fragment":
            raise QueryLoadError(f"{filename}:{block.line}: {filename} holds only fragments")
        if block.name in fragments:
            raise QueryLoadError(f"{filename}:{block.line}: duplicate fragment name {block.name!r}")

        def include(match: re.Match[str], block: _Block = block) -> str:
            wanted = match.group("name")
            if wanted not in fragments:
                raise QueryLoadError(
                    f"{filename}:{block.line}: fragment {block.name!r} includes {wanted!r}, not defined above it"
                )
            return fragments[wanted]

        code = INCLUDE.sub(include, block.code())
        if not code:
            raise QueryLoadError(f"{filename}:{block.line}: fragment {block.name!r} has no SQL")
        fragments[block.name] = code
    return fragments


def _blocks(text: str, filename: str) -> list[_Block]:
    blocks: list[_Block] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        block = _header(raw, filename, number)
        if block is not None:
            blocks.append(block)
        elif not blocks and raw.strip() and not raw.strip().startswith("--"):
            raise QueryLoadError(f"{filename}:{number}: SQL before the first '-- name:' header")
        elif blocks:
            blocks[-1].body.append(raw)
    return blocks


def _sql_files(directory: Traversable, folders: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Traversable]]:
    for entry in sorted(directory.iterdir(), key=lambda e: e.name):
        if entry.is_dir():
            yield from _sql_files(entry, (*folders, entry.name))
        elif (
            entry.name.endswith(".sql")
            and entry.name not in SCHEMA_FILES
            and not (not folders and entry.name == SHARED_FRAGMENTS)
        ):
            yield (*folders, entry.name.removesuffix(".sql")), entry


def load_directory(directory: Traversable) -> dict[str, Query]:
    """Load every named-query file below `directory` (a folder or package resources); sub-folders become dotted
    namespaces."""
    shared_file = directory / SHARED_FRAGMENTS
    shared = parse_shared_fragments(shared_file.read_text(encoding="utf-8")) if shared_file.is_file() else {}
    used_shared: set[str] = set()
    loaded: dict[str, Query] = {}
    for parts, entry in _sql_files(directory):
        text, filename = entry.read_text(encoding="utf-8"), "/".join(parts) + ".sql"
        for query in parse_file(text, ".".join(parts), filename, shared, used_shared).values():
            loaded[query.name] = query
    unused = sorted(set(shared) - used_shared)
    if unused:
        raise QueryLoadError(f"{SHARED_FRAGMENTS}: fragment {unused[0]!r} is not used by any query")
    return loaded


@lru_cache(maxsize=1)
def all_queries() -> dict[str, Query]:
    return load_directory(SQL_FILES)


_outside: dict[str, Query] = {}


def load_outside(path: Path, namespace: str) -> None:
    """Named queries of a file outside `sql/`, under `namespace`: for a kind of job declared outside this package (a
    test's, a plugin's) that brings its own SQL. Loading the same file twice is harmless; a namespace that `sql/`
    already uses is a QueryLoadError. `opentr db check` does not see these (they are not the project's)."""
    if any(name.startswith(f"{namespace}.") for name in all_queries()):
        raise QueryLoadError(f"{path}: namespace {namespace!r} is already used by {SQL_FILES}")
    parsed = parse_file(path.read_text(encoding="utf-8"), namespace, str(path))
    _outside.update({query.name: query for query in parsed.values()})


def get(name: str) -> Query:
    try:
        return all_queries()[name]
    except KeyError:
        pass
    try:
        return _outside[name]
    except KeyError:
        raise QueryLoadError(f"no named query {name!r} in {SQL_FILES}") from None
