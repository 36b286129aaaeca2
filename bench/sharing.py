"""Measure 12: what sharing costs the reader (Step 17). One user with their own files, then the same user with every
other user's file shared with them through 5 groups they are in (`--users 11 --files 1100` gives 100 own + 1,000
shared; the default dataset gives 100 + 900).

Three readings of the library page (the first 50 files, newest first), the transcript of one file and search, in
one run on the same data:
- "owner-only SQL": the library query as it was before step 17 (`f.user_id = actor`), the access rule's fragment
  replaced by that predicate in the very same statement, run as the tables' owner (no row-level security then):
  today's figure;
- "no shares": the current code acting as the reader (fragments + row-level security), nothing shared yet;
- "1,000 shared": the same after the shares are in.
The target is the last within 10 % of the first, for each reading. EXPLAIN (ANALYZE, BUFFERS) of the library query
before and after goes into the JSON. The shares and groups are removed afterwards, so later measures see the
dataset as generated.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any
from uuid import UUID

from bench import BenchUser, Context, Measure, median, ms, percentile
from bench.rls import share_with, unshare
from config.settings import Settings
from repo import queries
from repo.database import SYSTEM, Acting, Connection, Database
from repo.media_files import MediaFileRepository
from repo.queries import SHARED_FRAGMENTS, SQL_FILES, parse_shared_fragments
from repo.rows import Actor
from repo.search import SearchRepository
from repo.segments import SegmentRepository

WITHIN = 1.10
OWNER_ONLY = "(f.user_id = %(actor_id)s OR %(actor_sees_all)s::boolean)"
SEARCHES = ("budget", "quarterly revenue", "think", "zebra unicorn")


def run(ctx: Context) -> Measure:
    measure = Measure("sharing", "12. sharing: the library, a transcript and search with 1,000 files shared")
    reader, others = ctx.users[0], ctx.users[1:]
    repeats = 5 if ctx.options.smoke else 60
    settings = Settings(db_pool_min=1, db_pool_max=1, db_slow_query_ms=600_000)
    with Database(ctx.url, settings, application_name="opentr-bench", open=False) as db:
        db.open(wait=True)
        own_file = reader.file_uuids[0]
        before = _readings(db, reader, own_file, repeats, owner_only=True)
        unshared = _readings(db, reader, own_file, repeats, owner_only=False)
        plan_before = _explain(db, reader.actor, owner_only=True)
        share_with(ctx.url, reader, others)  # the rls measure's arrangement: 5 groups, every other file shared
        try:
            shared_file = others[0].file_uuids[0]
            after = _readings(db, reader, own_file, repeats, owner_only=False)
            shared_transcript = _timed(
                repeats, lambda: _in(db, reader.actor, lambda c: SegmentRepository(c).transcript_json(
                    reader.actor, _uuid(shared_file))))  # fmt: skip
            plan_after = _explain(db, reader.actor, owner_only=False)
            visible = _in(db, reader.actor, lambda c: _count_visible(c, reader.actor))
        finally:
            unshare(ctx.url, reader)
    for name in before:
        row: dict[str, Any] = {"reading": name}
        for label, samples in (("owner-only SQL", before), ("no shares", unshared), ("1,000 shared", after)):
            row[f"{label} p50 ms"] = ms(median(samples[name]))
            row[f"{label} p95 ms"] = ms(percentile(samples[name], 95))
        ratio = median(after[name]) / median(before[name])
        row["ratio"] = round(ratio, 3)
        measure.rows.append(row)
        measure.target(
            f"sharing: {name} with shares vs owner-only", f"<= {WITHIN:g}x", round(ratio, 3), ratio <= WITHIN
        )
    measure.rows.append(
        {"reading": "transcript of a shared file", "1,000 shared p50 ms": ms(median(shared_transcript)),
         "1,000 shared p95 ms": ms(percentile(shared_transcript, 95))})  # fmt: skip
    measure.notes.append(f"the reader owns {len(reader.file_uuids)} files and sees {visible} with the shares in place")
    measure.extra["explain_library_before"] = plan_before
    measure.extra["explain_library_after"] = plan_after
    return measure


def _readings(
    db: Database, reader: BenchUser, own_file: str, repeats: int, *, owner_only: bool
) -> dict[str, list[float]]:
    actor = reader.actor
    library: Callable[[Connection], object]
    as_who: Acting = SYSTEM if owner_only else actor  # before step 17 there was no row-level security
    if owner_only:
        sql = _owner_only_library_sql()
        params = _library_params(actor)
        library = lambda c: c.execute(sql, params).fetchall()  # noqa: E731
    else:
        library = lambda c: MediaFileRepository(c).list_page(actor, limit=50)  # noqa: E731
    readings = {
        "library page": _timed(repeats, lambda: _in(db, as_who, library)),
        "transcript": _timed(
            repeats, lambda: _in(db, as_who, lambda c: SegmentRepository(c).transcript_json(actor, _uuid(own_file)))
        ),
    }
    searches: list[float] = []
    for q in SEARCHES:

        def search(conn: Connection, q: str = q) -> object:
            return SearchRepository(conn).search(actor, q)

        searches += _timed(max(2, repeats // len(SEARCHES)), lambda: _in(db, as_who, search))
    readings["search"] = searches
    return readings


def _timed(repeats: int, fn: Callable[[], object]) -> list[float]:
    for _ in range(3):  # warm-up: caches and prepared statements
        fn()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return samples


def _in(db: Database, who: Acting, fn: Callable[[Connection], Any]) -> Any:
    """One read-only transaction acting as `who` (row-level security), as the web pipeline runs a GET."""
    with db.acting(who), db.transaction(read_only=True) as conn:
        return fn(conn)


def _uuid(text: str) -> UUID:
    return UUID(text)


def _library_fragment() -> str:
    return parse_shared_fragments((SQL_FILES / SHARED_FRAGMENTS).read_text(encoding="utf-8"))["file_readable"]


def _owner_only_library_sql() -> str:
    sql = queries.get("media_files.list_page").sql
    fragment = _library_fragment()
    assert fragment in sql, "media_files.list_page no longer uses the file_readable fragment"
    return sql.replace(fragment, OWNER_ONLY)


def _library_params(actor: Actor) -> dict[str, Any]:
    """list_page's parameters for the first page, newest first, no filter: what the repository sends."""
    captured: dict[str, Any] = {}

    class _Capture:  # a connection that only records what the repository would send
        def cursor(self, **_: Any) -> _Capture:
            return self

        def __enter__(self) -> _Capture:
            return self

        def __exit__(self, *_: Any) -> None:
            return None

        def execute(self, sql: str, params: dict[str, Any], **_: Any) -> Any:
            captured.update(params)
            raise _Captured

    with suppress(_Captured):
        MediaFileRepository(_Capture()).list_page(actor, limit=50)  # type: ignore[arg-type]
    assert captured, "could not read list_page's parameters"
    return captured


class _Captured(Exception):
    pass


def _explain(db: Database, actor: Actor, *, owner_only: bool) -> list[str]:
    """The library query's plan: before step 17 (owner-only SQL, no row-level security) or now (acting as the
    reader: the access fragment and the policies)."""
    sql = _owner_only_library_sql() if owner_only else queries.get("media_files.list_page").sql
    with db.acting(SYSTEM if owner_only else actor), db.transaction() as conn:
        rows = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, _library_params(actor)).fetchall()
    return [str(row[0]) for row in rows]


def _count_visible(conn: Connection, actor: Actor) -> int:
    row = conn.execute(
        "SELECT count(*) FROM media_files f"
        " WHERE f.user_id = %s OR f.id IN (SELECT a.media_file_id FROM shared_files(%s) a)",
        [actor.id, actor.id],
    ).fetchone()
    return int(row[0]) if row else 0
