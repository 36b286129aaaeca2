"""Measure 4: segments/s through our COPY path (SegmentRepository.replace_transcript, one transaction).

A 3-hour recording diarized by WhisperX gives one segment every second or so: 10,800 segments with word timings.
100,000 segments shows the rate once fixed costs are gone. Each run writes into a new, empty file of a table that
already holds the whole dataset (its indexes included), timed from the in-memory segments to the commit.

Wall time on a shared 2-core machine follows the load; CPU time much less. So each row also gives the CPU per
segment of the client (this process) and of the server backend that ran the transaction (read from /proc when the
server runs on this machine, as the embedded one does), and the rate if the busier of the two were the bound.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace

import psycopg

from bench import Context, Measure, median
from bench.dataset import delete_files, new_file, transcript
from config.settings import Settings
from repo.database import Database
from repo.segments import SegmentRepository
from transcript.segments import Segment

TARGET = 60_000.0
TICKS = os.sysconf("SC_CLK_TCK")


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
                    samples: list[tuple[float, float, float | None]] = []
                    for _ in range(ctx.options.ingest_repeats):
                        with psycopg.connect(ctx.url, autocommit=True) as conn:
                            file_id = new_file(conn, user, "ingest")
                        made.append(file_id)
                        samples.append(_ingest(db, file_id, segments))
                    seconds = median([s[0] for s in samples])
                    client = median([s[1] for s in samples]) / size * 1e6
                    server_samples = [s[2] for s in samples if s[2] is not None]
                    server = median(server_samples) / size * 1e6 if server_samples else None
                    rate = size / seconds
                    label = f"{size:,} segments {'with' if words else 'without'} words"
                    measure.rows.append(
                        {
                            "transcript": label,
                            "seconds_median": round(seconds, 3),
                            "segments_per_s": round(rate),
                            "client_cpu_us": round(client, 1),
                            "server_cpu_us": None if server is None else round(server, 1),
                            "cpu_bound_per_s": None if server is None else round(1e6 / max(client, server)),
                            "runs": len(samples),
                        }
                    )
                    if words:
                        measure.target(f"ingest: {label}", f">= {TARGET:,.0f}/s", round(rate), rate >= TARGET, "/s")
    finally:
        if made:
            delete_files(ctx.url, made)
    return measure


def _backend_cpu(pid: int) -> float | None:
    """Seconds of CPU the server process `pid` used so far; None when it is not on this machine."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            name, rest = stat.read().rsplit(")", 1)
    except OSError:
        return None
    if not name.endswith("(postgres"):  # a remote server's pid names some other local process, or none
        return None
    fields = rest.split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def _ingest(db: Database, file_id: int, segments: list[Segment]) -> tuple[float, float, float | None]:
    """Wall seconds, client CPU seconds and server backend CPU seconds (None: not measurable) of one replacement."""
    with db.transaction() as conn:
        pid = conn.info.backend_pid
        server, client, started = _backend_cpu(pid), time.process_time(), time.perf_counter()
        SegmentRepository(conn).replace_transcript(file_id, segments)
    seconds, client = time.perf_counter() - started, time.process_time() - client
    after = _backend_cpu(pid)
    return seconds, client, None if server is None or after is None else after - server
