"""Measure 1: the cost of our layer (Database.transaction + repositories + statements) over the bare driver.

Both sides run the very same SQL text (loaded from sql/*.sql) on the very same psycopg_pool, one transaction per
operation, as the web app does. The hand-written side is what a careful programmer writes without a layer:
`pool.connection()`, `conn.transaction()`, `conn.execute(SQL, params).fetchone()`, tuples out. Ours adds
the transaction context (nesting, fork check), parameter checks, error translation, the slow-query timer and typed
rows (frozen dataclasses, keyset cursors). The two are called alternately, so drift hits both alike.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any
from uuid import UUID

from bench import Context, Measure, alternate, median, ms, percentile
from bench.dataset import processing_files
from config.settings import Settings
from repo import queries
from repo.comments import CommentRepository
from repo.database import Database
from repo.file_processing import FileProcessingRepository
from repo.library import LibraryFilter
from repo.media_files import FROM, MediaFileRepository

TARGET = 1.15
Op = Callable[[int], object]


def run(ctx: Context) -> Measure:
    measure = Measure("layer", "1. layer overhead: repositories vs hand-written psycopg (same SQL, same pool)")
    user = ctx.users[0]
    actor = user.actor
    scope = actor.scope()
    uuids = [UUID(u) for u in user.file_uuids]
    jobs = processing_files(ctx.url, user, min(10, len(user.file_ids)))
    rng = random.Random(7)
    settings = Settings(db_pool_min=2, db_pool_max=2, db_slow_query_ms=10_000)
    sql = {name: queries.get(name).sql for name in ("media_files.get", "media_files.list_page", "comments.create")}
    sql["update_progress"] = queries.get("file_processing.update_progress").sql
    progress_from = list(FROM["progress"])
    page_params: dict[str, Any] = {
        "pattern": None,
        **LibraryFilter().params(),
        "sort": "upload_time",
        "descending": True,
        "after_time": None,
        "after_text": None,
        "after_number": None,
        "after_id": None,
        "limit": 51,
        **scope,
    }

    with Database(ctx.url, settings, application_name="opentr-bench", open=False) as db:
        db.open(wait=True)

        def ours_get(i: int) -> object:
            with db.transaction() as conn:
                return MediaFileRepository(conn).get(actor, uuids[i % len(uuids)])

        def raw_get(i: int) -> object:
            with db.pool.connection() as conn, conn.transaction():
                return conn.execute(sql["media_files.get"], {"uuid": uuids[i % len(uuids)], **scope}).fetchone()

        def ours_page(i: int) -> object:
            with db.transaction() as conn:
                return MediaFileRepository(conn).list_page(actor, limit=50)

        def raw_page(i: int) -> object:
            with db.pool.connection() as conn, conn.transaction():
                rows = conn.execute(sql["media_files.list_page"], page_params).fetchall()
                return rows[:50], len(rows) > 50

        def ours_comment(i: int) -> object:
            with db.transaction() as conn:
                return CommentRepository(conn).create(actor, uuids[i % len(uuids)], f"ours {i}", float(i % 600))

        def raw_comment(i: int) -> object:
            params = {"file_uuid": uuids[i % len(uuids)], "text": f"raw {i}", "timestamp": float(i % 600), **scope}
            with db.pool.connection() as conn, conn.transaction():
                return conn.execute(sql["comments.create"], params).fetchone()

        def ours_progress(i: int) -> object:
            file_id, task_id = jobs[i % len(jobs)]
            with db.transaction() as conn:
                return FileProcessingRepository(conn).update_progress(file_id, task_id, (i % 100) / 100)

        def raw_progress(i: int) -> object:
            file_id, task_id = jobs[i % len(jobs)]
            params = {
                "file_id": file_id,
                "task_id": task_id,
                "progress": (i % 100) / 100,
                "from_statuses": progress_from,
            }
            with db.pool.connection() as conn, conn.transaction():
                return conn.execute(sql["update_progress"], params).fetchone()

        operations: list[tuple[str, Op, Op]] = [
            ("get file by uuid", ours_get, raw_get),
            ("file page of 50 with tags", ours_page, raw_page),
            ("insert a comment", ours_comment, raw_comment),
            ("update progress", ours_progress, raw_progress),
        ]
        worst = 0.0
        for name, ours, raw in operations:
            ours_samples, raw_samples = alternate(ours, raw, ctx.options.layer_iterations, rng)
            ours_median, raw_median = median(ours_samples), median(raw_samples)
            ratio = ours_median / raw_median
            worst = max(worst, ratio)
            measure.rows.append(
                {
                    "operation": name,
                    "ours_ms_median": ms(ours_median),
                    "psycopg_ms_median": ms(raw_median),
                    "ours_ms_p95": ms(percentile(ours_samples, 95)),
                    "psycopg_ms_p95": ms(percentile(raw_samples, 95)),
                    "overhead_us": round((ours_median - raw_median) * 1e6, 1),
                    "ratio": round(ratio, 3),
                    "iterations": len(ours_samples),
                }
            )
            measure.target(f"layer: {name}", f"<= {TARGET}x", round(ratio, 3), ratio <= TARGET, "x")
        measure.extra["worst_ratio"] = round(worst, 3)
    measure.notes.append(
        "both sides: one transaction per operation on one psycopg_pool (2 connections); same SQL text, so the server "
        "prepares it once for both (psycopg prepares a statement on its 5th use on a connection)"
    )
    return measure
