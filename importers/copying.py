"""How every imported table is copied: what a later run may add, and what it must leave alone.

A kind of row (`Kind`) names its source table, our table, its parents and how one row is written. `Copier.copy`
then decides each source row's fate, counting it exactly once in the report:

- remembered from an earlier run (`import_origins`): *already there*, or, when a user deleted it here since (or
  the file, user... it hung from), *skipped* with that reason: never added again, never overwritten;
- a parent never copied, or deleted here since: *skipped*, naming which;
- otherwise written (or matched to an existing row by its natural key) and remembered in the same savepoint.

Rows go in short batch transactions (committed as they go, so an interrupted run keeps what it did and the next
one goes on from there), each row in its own savepoint: a row our schema refuses, or that the mapping cannot
convert, is skipped with the reason and the run goes on. Only a lost connection stops the run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg

from importers.report import Report, TableReport
from repo.database import Database
from repo.errors import DataError, Unavailable
from repo.imports import ImportRepository, Origins, Written

Row = dict[str, Any]
Parents = dict[str, int | None]
T = TypeVar("T")
COLLISION_ATTEMPTS = 3
COLLISIONS = (pg.DeadlockDetected, pg.SerializationFailure)


class Skip(Exception):
    """This row is not copied, for `reason` (in words); `attention`: the operator must act on it."""

    def __init__(self, reason: str, *, attention: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.attention = attention


@dataclass(frozen=True)
class Parent:
    column: str  # the source row's column holding the parent's source key
    table: str  # the parent's source table
    noun: str  # "its {noun} was deleted here after an earlier import"
    optional: bool = False  # NULL in the source is fine
    keep_if_lost: bool = False  # a parent not copied or deleted here becomes NULL (as ON DELETE SET NULL would)


@dataclass(frozen=True)
class Kind:
    table: str  # the source table, as import_origins remembers it
    target: str  # our table: the report's line, and what the origins' presence check reads
    write: Callable[[ImportRepository, Row, Parents], Written]
    parents: tuple[Parent, ...] = ()
    key: Callable[[Row], str] = lambda row: str(row["id"])
    link: bool = False  # a row that only links two others: a user "removes" it rather than deleting it
    batch: int = 500


def gone_reason(noun: str) -> str:
    return f"its {noun} was deleted here after an earlier import"


class Copier:
    def __init__(self, db: Database, source: str, report: Report, progress: Callable[[str, int, int], None]) -> None:
        self.db, self.source, self.report, self.progress = db, source, report, progress
        self.known: dict[str, Origins] = {}

    def origins(self, table: str, target: str) -> Origins:
        """The source table's origins, read once a run; the run adds to them as it copies."""
        if table not in self.known:
            with self.db.transaction() as conn:
                self.known[table] = ImportRepository(conn).origins(self.source, table, target)
        return self.known[table]

    def parents(self, kind: Kind, row: Row) -> Parents:
        """Our ids of the row's parents; Skip naming the first one that was not copied or was deleted here."""
        return {parent.column: self.resolve(parent, row[parent.column]) for parent in kind.parents}

    def resolve(self, parent: Parent, value: Any) -> int | None:
        if value is None:
            if not parent.optional:
                raise Skip(f"without its {parent.noun} in OpenTranscribe")
            return None
        origins = self.known.get(parent.table)
        target = origins.target(value) if origins is not None else None
        if target is None or (origins is not None and origins.is_gone(value)):
            if parent.keep_if_lost:
                return None
            raise Skip(f"its {parent.noun} was not copied" if target is None else gone_reason(parent.noun))
        assert isinstance(target, int), parent  # parents are rows with an id
        return target

    def copy(self, kind: Kind, rows: Sequence[Row]) -> Origins:
        report = self.report.table(kind.target)
        report.source = len(rows)
        origins = self.origins(kind.table, kind.target)
        for start in range(0, len(rows), kind.batch):
            batch = rows[start : start + kind.batch]
            with self.db.transaction() as conn:
                repo = ImportRepository(conn)
                for row in batch:
                    self._one(kind, repo, origins, row, report)
            self.progress(kind.target, start + len(batch), len(rows))
        if not rows:
            self.progress(kind.target, 0, 0)
        return origins

    def _one(self, kind: Kind, repo: ImportRepository, origins: Origins, row: Row, report: TableReport) -> None:
        key = kind.key(row)
        if key in origins:
            if not origins.is_gone(key):
                report.present += 1
                return
            try:  # deleted with a parent (a cascade), or on its own
                self.parents(kind, row)
            except Skip as skip:
                report.skip(skip.reason)
                return
            report.skip(f"{'removed' if kind.link else 'deleted'} here after an earlier import")
            return
        written = self.attempt(report, key, lambda: self._write(kind, repo, origins, row, key))
        if written is not None:
            if written.created:
                report.copied += 1
            else:
                report.present += 1

    def _write(self, kind: Kind, repo: ImportRepository, origins: Origins, row: Row, key: str) -> Written:
        written = kind.write(repo, row, self.parents(kind, row))
        origins.remember(repo.conn, key, written.target)
        return written

    def attempt(self, report: TableReport, key: str, work: Callable[[], T]) -> T | None:
        """`work` in its own savepoint; a row that fails is skipped with the reason in words, never the run."""
        for attempt in range(1, COLLISION_ATTEMPTS + 1):
            try:
                with self.db.transaction():  # a SAVEPOINT inside the batch's transaction
                    return work()
            except Skip as skip:
                report.skip(skip.reason, attention=skip.attention, key=key)
            except COLLISIONS:
                if attempt < COLLISION_ATTEMPTS:
                    continue  # a user's write collided with this one: the savepoint is rolled back; again
                report.skip("kept colliding with writes here; run the import again", attention=True, key=key)
            except Unavailable:
                raise
            except DataError as exc:
                reason, attention = refusal(exc)
                report.skip(reason, attention=attention, key=key)
            except psycopg.OperationalError:
                raise  # the connection is gone: nothing more can be written
            except Exception as exc:  # a value the mapping did not foresee: this row only
                report.skip(f"could not be converted ({type(exc).__name__}: {exc})", attention=True, key=key)
            return None
        return None


def refusal(exc: DataError) -> tuple[str, bool]:
    """What our schema's refusal means, in words, and whether the operator must act on it."""
    cause = exc.__cause__
    constraint = cause.diag.constraint_name if isinstance(cause, psycopg.Error) else None
    if isinstance(cause, pg.ForeignKeyViolation):
        return f"a row it refers to ({exc.field or 'a parent'}) was deleted here while the import ran", False
    if isinstance(cause, pg.CheckViolation):
        return f"refused by our schema's rule {constraint or exc.field}", True
    if isinstance(cause, pg.NotNullViolation):
        return f"without a {exc.field or 'value'}, which our schema requires", True
    if isinstance(cause, pg.UniqueViolation):
        return f"its {exc.field or 'key'} is taken here by another row", True
    return f"refused here: {exc.detail}", True


def link_key(*values: Any) -> str:
    return ",".join(str(v) for v in values)
