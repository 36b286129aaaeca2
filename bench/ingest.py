"""Measure 4: segments/s through our COPY path (SegmentRepository.replace_transcript, one transaction).

A 3-hour recording diarized by WhisperX gives one segment every second or so: 10,800 segments with word timings.
100,000 segments shows the rate once fixed costs are gone. Each run writes into a new, empty file of a table that
already holds the whole dataset (its indexes included), timed from the in-memory segments to the commit.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

import psycopg

from bench import Context, Measure, median, timed
from bench.dataset import delete_files, new_file, transcript
from config.settings import Settings
from repo.database import Database
from repo.segments import SegmentRepository
from transcript.segments import Segment

TARGET = 150_000.0


def run(ctx: Context) -> Measure:
    measure = Measure("ingest", "4. ingest: segments/s through COPY (replace_transcript, one transaction)")
    user = ctx.users[0]
    made: list[int] = []
    settings = Settings(db_pool_min=1, db_pool_max=1, db_slow_query_ms=600_000)
    try:
        with Database(ctx.url, settings, application_name="opentr-bench", open=False) as db:
            db.open(wait=True)
            for size in ctx.options.ingest_sizes:
                for words in (True, False):
                    segments = transcript(size, seed=size)
                    if not words:
                        segments = [replace(s, words=None) for s in segments]
                    samples = []
                    for _ in range(ctx.options.ingest_repeats):
                        with psycopg.connect(ctx.url, autocommit=True) as conn:
                            file_id = new_file(conn, user, "ingest")
                        made.append(file_id)
                        samples.append(timed(partial(_ingest, db, file_id, segments)))
                    seconds = median(samples)
                    rate = size / seconds
                    label = f"{size:,} segments {'with' if words else 'without'} words"
                    measure.rows.append(
                        {
                            "transcript": label,
                            "seconds_median": round(seconds, 3),
                            "segments_per_s": round(rate),
                            "runs": len(samples),
                        }
                    )
                    if words:
                        measure.target(f"ingest: {label}", f">= {TARGET:,.0f}/s", round(rate), rate >= TARGET, "/s")
    finally:
        if made:
            delete_files(ctx.url, made)
    return measure


def _ingest(db: Database, file_id: int, segments: list[Segment]) -> None:
    with db.transaction() as conn:
        SegmentRepository(conn).replace_transcript(file_id, segments)
