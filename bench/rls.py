"""Measure 11: what row-level security (migration 0014) costs the library page, the longest transcript and search.

The same repository call, in its own transaction each time, once as the system (the tables' owner: the SQL
fragments are the only wall) and once acting for the user (`Database.acting`: role opentr_app, RLS policies on top of
the fragments), alternately. Before measuring, the user is put in 5 groups and every other user's file is shared
with one of them (viewer), so the policies' shared_files() has real work; the shares are removed afterwards.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any
from uuid import UUID

import psycopg

from bench import BenchUser, Context, Measure, alternate, median, ms
from bench.dataset import SEARCH_QUERIES
from config.settings import Settings
from repo import queries
from repo.database import Database, act
from repo.library import LibraryFilter
from repo.media_files import MediaFileRepository
from repo.search import SearchRepository
from repo.segments import SegmentRepository

TARGET_RATIO = 1.10
GROUPS = 5


def share_with(url: str, user: BenchUser, others: list[BenchUser]) -> None:
    with psycopg.connect(url) as conn:
        groups = [
            row[0]
            for row in conn.execute(
                "INSERT INTO groups (name, created_by) SELECT 'bench ' || g, %s FROM generate_series(1, %s) g "
                "RETURNING id",
                [user.id, GROUPS],
            ).fetchall()
        ]
        conn.execute("INSERT INTO group_members (group_id, user_id) SELECT unnest(%s::bigint[]), %s", [groups, user.id])
        files = [f for other in others for f in other.file_ids]
        conn.execute(
            "INSERT INTO shares (media_file_id, group_id, role, shared_by) "
            "SELECT f, (%s::bigint[])[1 + (n %% %s)], 'viewer', NULL "
            "FROM unnest(%s::bigint[]) WITH ORDINALITY AS t (f, n)",
            [groups, GROUPS, files],
        )


def unshare(url: str, user: BenchUser) -> None:
    with psycopg.connect(url) as conn:
        conn.execute("DELETE FROM groups WHERE created_by = %s AND name LIKE 'bench %%'", [user.id])


def _longest_file(url: str, user: BenchUser) -> tuple[UUID, int]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT f.uuid, count(s.id) FROM media_files f JOIN transcript_segments s ON s.media_file_id = f.id "
            "WHERE f.user_id = %s GROUP BY f.id ORDER BY 2 DESC LIMIT 1",
            [user.id],
        ).fetchone()
    assert row is not None, "the bench user has no transcript"
    return row[0], int(row[1])


def run(ctx: Context) -> Measure:
    measure = Measure("rls", "11. row-level security: the same calls as the system and acting for the user (RLS)")
    user, others = ctx.users[0], ctx.users[1:]
    iterations = 10 if ctx.options.smoke else 60
    settings = Settings(db_pool_min=1, db_pool_max=1, db_slow_query_ms=600_000)
    longest, segments = _longest_file(ctx.url, user)
    actor = user.actor
    share_with(ctx.url, user, others)
    try:
        with Database(ctx.url, settings, application_name="opentr-bench", open=False) as db:
            db.open(wait=True)
            calls: dict[str, Callable[[psycopg.Connection[Any]], object]] = {
                "library page of 50": lambda conn: MediaFileRepository(conn).list_page(actor, limit=50),
                f"transcript of {segments:,} segments (JSON)": lambda conn: SegmentRepository(conn).transcript_json(
                    actor, longest
                ),
                **{f"search {q!r}": _searching(actor, q) for q in SEARCH_QUERIES[:3]},
            }
            for name, call in calls.items():

                def system(_: int, call: Callable[[psycopg.Connection[Any]], object] = call) -> object:
                    with db.acting_as_system(), db.transaction() as conn:
                        return call(conn)

                def acting(_: int, call: Callable[[psycopg.Connection[Any]], object] = call) -> object:
                    with db.acting(actor), db.transaction() as conn:
                        return call(conn)

                without, with_rls = alternate(system, acting, iterations, random.Random(9))
                ratio = median(with_rls) / median(without)
                measure.rows.append(
                    {
                        "call": name,
                        "system_ms": ms(median(without)),
                        "rls_ms": ms(median(with_rls)),
                        "ratio": round(ratio, 3),
                        "runs": len(with_rls),
                    }
                )
                measure.target(f"RLS: {name}", f"<= {TARGET_RATIO:g}x", round(ratio, 3), ratio <= TARGET_RATIO, "x")
            if ctx.options.explain:
                measure.extra["library_plan_rls"] = _explain_library(db, actor)
    finally:
        unshare(ctx.url, user)
    return measure


def _searching(actor: Any, q: str) -> Callable[[psycopg.Connection[Any]], object]:
    return lambda conn: SearchRepository(conn).search(actor, q)


def _explain_library(db: Database, actor: Any) -> list[str]:
    """EXPLAIN ANALYZE of the library page acting for the user (the RLS policies' part of the plan)."""
    params = {
        **LibraryFilter().params(),
        "pattern": None,
        "sort": "upload_time",
        "descending": True,
        "after_time": None,
        "after_text": None,
        "after_number": None,
        "after_id": None,
        "limit": 51,
        **actor.scope(),
    }
    with db.transaction() as conn:
        act(conn, actor)
        rows = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + queries.get("media_files.list_page").sql, params)
        return [str(row[0]) for row in rows.fetchall()]
