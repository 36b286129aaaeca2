"""`db check`, second half: every named query prepares against the schema and its columns fill its row type."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import re

import psycopg
from psycopg.pq import ExecStatus

import repo
from repo import queries, statements

PARAM = re.compile(r"%\((\w+)\)s")


def load_repositories() -> list[statements.Bound]:
    """Import every repository module so that all its bindings register."""
    for module in pkgutil.iter_modules(repo.__path__):
        importlib.import_module(f"repo.{module.name}")
    return list(statements.BOUND)


def to_positional(sql: str) -> str:
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    return PARAM.sub(number, sql).replace("%%", "%")


def _columns(conn: psycopg.Connection[object], sql: str) -> list[str]:
    pgconn = conn.pgconn
    prepared = pgconn.prepare(b"", to_positional(sql).encode())
    if prepared.status != ExecStatus.COMMAND_OK:
        raise ValueError((prepared.error_message or b"").decode().strip())
    described = pgconn.describe_prepared(b"")
    return [(described.fname(i) or b"").decode() for i in range(described.nfields)]


def check_binding(conn: psycopg.Connection[object], bound: statements.Bound) -> str | None:
    """None when the binding is sound, else one line saying what is wrong."""
    query = bound.query
    try:
        if query.marker == ":copy":
            with conn.transaction(force_rollback=True), conn.cursor() as cur, cur.copy(query.sql):
                pass
            return None
        text = bound.sql(bound.CHECK_DIMENSIONS) if isinstance(bound, statements.Dimensioned) else query.sql
        columns = _columns(conn, text)
    except (ValueError, psycopg.Error) as exc:
        return f"{query.name} ({query.source}): does not prepare: {exc}"
    if query.marker == ":scalar" and len(columns) != 1:
        return f"{query.name}: :scalar must return one column, returns {columns}"
    if bound.row_type is not None and dataclasses.is_dataclass(bound.row_type):
        # The fields a row is built from (statements.Rows): a field outside __init__ is filled in afterwards.
        fields = [f.name for f in dataclasses.fields(bound.row_type) if f.init]
        missing, extra = set(fields) - set(columns), set(columns) - set(fields)
        if missing or extra or len(columns) != len(set(columns)):
            return (
                f"{query.name}: columns do not match {bound.row_type.__name__}: "
                f"missing {sorted(missing)}, extra {sorted(extra)}"
            )
    return None


def check_all(conninfo: str) -> list[str]:
    """Problems found (empty when every query is sound and every query in sql/ is used). A query over pgvector's
    type (statements.Dimensioned) can only prepare where the extension is: it is checked on such servers (the tests
    check every query on one: tests/test_querycheck.py)."""
    bindings = load_repositories()
    problems: list[str] = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        has_vector = conn.execute("SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'vector')").fetchone()
        for bound in bindings:
            if isinstance(bound, statements.Dimensioned) and not (has_vector and has_vector[0]):
                continue
            problem = check_binding(conn, bound)
            if problem:
                problems.append(problem)
    used = {b.query.name for b in bindings}
    problems += [
        f"{name} ({q.source}): not used by any repository"
        for name, q in queries.all_queries().items()
        if name not in used
    ]
    return problems
