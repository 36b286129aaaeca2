"""Typed callables bound to named queries: one vocabulary of result markers, one place that executes SQL.

`get_file = one("files.get", MediaFile)` checks at import time that the query exists with the `:one` marker;
`get_file(conn, uuid=..., user_id=...)` runs it, maps rows with `class_row`, translates driver errors into
repo.errors, times it for the slow-query log and tells any observers (the statement-counting tests).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

import psycopg
from psycopg import _queries as psycopg_queries
from psycopg import errors as pg
from psycopg.rows import RowMaker, no_result, tuple_row

from repo import queries
from repo.database import as_system
from repo.errors import Conflict, DataError, Invalid, NotFound, QueryLoadError, Unavailable

log = logging.getLogger("opentr.sql")
R = TypeVar("R")
Connection = psycopg.Connection[Any]
Observer = Callable[[str, float], None]

SLOW_QUERY_MS = 500.0
# psycopg converts a query's `%(name)s` placeholders to `$n` once and caches the result, but only for texts up to
# 4 KB: it guards against ORMs' ever-different statements. Ours are a fixed set of named queries, and the longest
# (the library page with its access and filter fragments, 6 KB) was re-parsed on every call: a tenth of the file
# page's Python time (bench/README.md, "File page against the old stack"). A private constant: if a psycopg release
# drops it, this line does nothing and only that time comes back.
psycopg_queries.MAX_CACHED_STATEMENT_LENGTH = max(psycopg_queries.MAX_CACHED_STATEMENT_LENGTH, 16 * 1024)
observers: list[Observer] = []
BOUND: list[Bound] = []


def set_slow_query_ms(threshold: float) -> None:
    global SLOW_QUERY_MS
    SLOW_QUERY_MS = threshold


KEY_DETAIL = re.compile(r"^Key \((?P<columns>.+?)\)=")
SCOPE_COLUMNS = {"user_id", "media_file_id"}


def _field_from_diag(exc: psycopg.Error) -> str | None:
    """The column a user would name: from the error, from `Key (user_id, name)=...`, or from the constraint."""
    diag = exc.diag
    if diag.column_name:
        return diag.column_name
    detail = KEY_DETAIL.match(diag.message_detail or "")
    if detail:
        columns = [re.sub(r"^\w+\((\w+)\)$", r"\1", c.strip()) for c in detail.group("columns").split(",")]
        named = [c for c in columns if c not in SCOPE_COLUMNS] or columns
        return named[-1]
    constraint, table = diag.constraint_name or "", diag.table_name or ""
    for suffix in ("_key", "_fkey", "_check", "_idx"):
        if constraint.startswith(table + "_") and constraint.endswith(suffix):
            return constraint[len(table) + 1 : -len(suffix)] or None
    return constraint or None


def translate(exc: psycopg.Error) -> DataError | None:
    """The domain error for a driver error, or None for errors the caller must see (serialization...)."""
    field = _field_from_diag(exc)
    if isinstance(exc, pg.UniqueViolation):
        return Conflict(f"{field or 'value'} already exists", field)
    if isinstance(exc, pg.ForeignKeyViolation):
        return Invalid(f"{field or 'reference'} does not refer to an existing row", field)
    if isinstance(exc, pg.NotNullViolation):
        return Invalid(f"{field or 'value'} is required", field)
    if isinstance(exc, pg.CheckViolation | pg.ExclusionViolation):
        return Invalid(f"{field or 'value'} is out of range", field)
    if isinstance(exc, pg.QueryCanceled):
        return Unavailable("the database took too long to answer")
    if isinstance(exc, pg.DataError):
        return Invalid(exc.diag.message_primary or "invalid value", field)
    if isinstance(exc, pg.SerializationFailure | pg.DeadlockDetected):
        return None
    if isinstance(exc, psycopg.OperationalError):
        return Unavailable("the database connection was lost")
    return None


def _noun(query_name: str) -> str:
    """`summaries.get` → "summary", `media_files.get` → "media file": what a NotFound message names."""
    plural = query_name.split(".")[0]
    singular = plural[:-3] + "y" if plural.endswith("ies") else plural.removesuffix("s")
    return singular.replace("_", " ")


@contextmanager
def _executing(query: queries.Query) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    except psycopg.Error as exc:
        domain = translate(exc)
        if domain is not None:
            raise domain from exc
        raise
    finally:
        elapsed_ms = (time.perf_counter() - started) * 1000
        if elapsed_ms >= SLOW_QUERY_MS:
            log.warning("slow query %s took %.1f ms", query.name, elapsed_ms)
        for observer in observers:
            observer(query.name, elapsed_ms)


class Rows(Generic[R]):
    """`class_row(row_type)` for one named query, with the column names read once instead of on every execution.

    psycopg's class_row decodes every column name of every result and builds each row as `cls(**dict(...))`; for
    a 50-column row that was most of the layer's cost (bench/layer.py). A named query's SQL is fixed, so are its
    column names: they are read from the first result (and again only if the column count changes), and when they
    are the dataclass's fields in order, rows are built positionally.
    """

    def __init__(self, row_type: type[R]) -> None:
        self.row_type = row_type
        fields = dataclasses.fields(row_type) if dataclasses.is_dataclass(row_type) else ()
        self.fields = tuple(f.name for f in fields if f.init)
        self.names: tuple[str, ...] = ()
        self.maker: RowMaker[R] = no_result

    def __call__(self, cursor: psycopg.Cursor[Any]) -> RowMaker[R]:
        nfields = cursor.pgresult.nfields if cursor.pgresult is not None else 0
        if not self.names or len(self.names) != nfields:
            columns = cursor.description
            if columns is None:
                return no_result
            names = tuple(c.name for c in columns)
            cls = self.row_type
            if names == self.fields:
                self.maker = lambda values: cls(*values)
            else:
                self.maker = lambda values: cls(**dict(zip(names, values, strict=True)))
            self.names = names
        return self.maker


class Bound:
    """A named query with the marker it must carry and the row type its columns fill."""

    marker = ""

    def __init__(self, name: str, row_type: type[Any] | None = None) -> None:
        self.query = queries.get(name)
        if self.query.marker != self.marker:
            raise QueryLoadError(f"{self.query.source}: {name} is {self.query.marker}, bound as {self.marker}")
        self.row_type = row_type
        BOUND.append(self)

    def _args(self, params: dict[str, Any]) -> dict[str, Any]:
        self.query.check_params(set(params))
        return params


class One(Bound, Generic[R]):
    marker = ":one"

    def __init__(self, name: str, row_type: type[R]) -> None:
        super().__init__(name, row_type)
        self.rows = Rows(row_type)

    def __call__(self, conn: Connection, **params: Any) -> R:
        with _executing(self.query), conn.cursor(row_factory=self.rows) as cur:
            row = cur.execute(self.query.sql, self._args(params)).fetchone()
        if row is None:
            raise NotFound(f"{_noun(self.query.name)} not found")
        return row


class OneOrNone(Bound, Generic[R]):
    marker = ":one?"

    def __init__(self, name: str, row_type: type[R]) -> None:
        super().__init__(name, row_type)
        self.rows = Rows(row_type)

    def __call__(self, conn: Connection, **params: Any) -> R | None:
        with _executing(self.query), conn.cursor(row_factory=self.rows) as cur:
            return cur.execute(self.query.sql, self._args(params)).fetchone()


class Many(Bound, Generic[R]):
    marker = ":many"

    def __init__(self, name: str, row_type: type[R]) -> None:
        super().__init__(name, row_type)
        self.rows = Rows(row_type)

    def __call__(self, conn: Connection, **params: Any) -> list[R]:
        with _executing(self.query), conn.cursor(row_factory=self.rows) as cur:
            return cur.execute(self.query.sql, self._args(params)).fetchall()


class Scalar(Bound, Generic[R]):
    marker = ":scalar"

    def __init__(self, name: str, value_type: type[R]) -> None:
        super().__init__(name, value_type)

    def __call__(self, conn: Connection, **params: Any) -> R:
        with _executing(self.query), conn.cursor(row_factory=tuple_row) as cur:
            row = cur.execute(self.query.sql, self._args(params)).fetchone()
        if row is None:
            raise NotFound(f"{self.query.name} returned no row")
        value: R = row[0]
        return value


class RowCount(Bound):
    marker = ":rowcount"

    def __call__(self, conn: Connection, **params: Any) -> int:
        with _executing(self.query), conn.cursor() as cur:
            return cur.execute(self.query.sql, self._args(params)).rowcount


class Exec(Bound):
    marker = ":exec"

    def __call__(self, conn: Connection, **params: Any) -> None:
        with _executing(self.query), conn.cursor() as cur:
            cur.execute(self.query.sql, self._args(params))


class Copy(Bound):
    """COPY FROM STDIN. PostgreSQL refuses COPY FROM into a table with row-level security for a role it applies to
    (migration 0014), so the COPY alone runs as the system (repo.database.as_system). Every :copy writes rows keyed
    by a file or a task its caller has just read or locked under RLS in the same transaction
    (segments.lock_file_owner, the job's own task), so no row lands where the actor cannot see."""

    marker = ":copy"

    def __call__(self, conn: Connection, rows: Iterable[Sequence[Any]]) -> int:
        count = 0
        with as_system(conn), _executing(self.query), conn.cursor() as cur, cur.copy(self.query.sql) as copy:
            for values in rows:
                copy.write_row(values)
                count += 1
        return count


def one(name: str, row_type: type[R]) -> One[R]:
    return One(name, row_type)


def one_or_none(name: str, row_type: type[R]) -> OneOrNone[R]:
    return OneOrNone(name, row_type)


def many(name: str, row_type: type[R]) -> Many[R]:
    return Many(name, row_type)


def scalar(name: str, value_type: type[R]) -> Scalar[R]:
    return Scalar(name, value_type)


def rowcount(name: str) -> RowCount:
    return RowCount(name)


def execute(name: str) -> Exec:
    return Exec(name)


def copy(name: str) -> Copy:
    return Copy(name)


class Dimensioned(Bound, Generic[R]):
    """A `:many` query over embeddings whose SQL says `{N}` where the vectors' dimension goes: a typmod
    (`vector(384)`), which PostgreSQL takes only as a literal, never as a parameter. `{N}` is replaced by a checked
    integer (one SQL text per dimension, kept). Such a query needs pgvector: `opentr db check` prepares it with
    CHECK_DIMENSIONS where the extension is installed (repo/querycheck.py)."""

    marker = ":many"
    CHECK_DIMENSIONS = 3

    def __init__(self, name: str, row_type: type[R]) -> None:
        super().__init__(name, row_type)
        self.rows = Rows(row_type)
        self._texts: dict[int, str] = {}

    def sql(self, dimensions: int) -> str:
        if isinstance(dimensions, bool) or not isinstance(dimensions, int) or not 1 <= dimensions <= 16_000:
            raise ValueError(f"a vector's dimension is a positive integer, not {dimensions!r}")
        text = self._texts.get(dimensions)
        if text is None:
            text = self._texts[dimensions] = self.query.sql.replace("{N}", str(dimensions))
        return text

    def __call__(self, conn: Connection, dimensions: int, **params: Any) -> list[R]:
        text = self.sql(dimensions)
        with _executing(self.query), conn.cursor(row_factory=self.rows) as cur:
            return cur.execute(text, self._args(params)).fetchall()


def dimensioned(name: str, row_type: type[R]) -> Dimensioned[R]:
    return Dimensioned(name, row_type)
