"""`--only scale`: the file page and the transcript under 1, 2 and 4 uvicorn processes, reading from the primary
and then from a streaming replica.

The measure brings its own servers: a throwaway primary with a streaming replica (`pg_basebackup -R`, bench/
cluster.py) on 127.0.0.1, and a dataset generated on the primary (at most 200 files and 100,000 segments: enough
for realistic transcripts, quick to build) that the replica replays before the load starts. Each configuration is
a fresh `uvicorn --workers N` with DB_POOL_MAX 5 per process under the same load (measure 3's generator and
connection count). On one small machine the replica shares the CPU with everything else, so its figures show what
routing reads costs, not the capacity a replica on its own machine adds.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench import Context, Measure, dataset
from bench.cluster import ReplicatedPostgres
from bench.http import load, serve, tool
from repo import schema

PROCESSES = (1, 2, 4)
POOL_PER_PROCESS = 5


def run(ctx: Context) -> Measure:
    options = replace(ctx.options, files=min(ctx.options.files, 200), segments=min(ctx.options.segments, 100_000))
    generator = tool(options.loadgen)
    measure = Measure(
        "scale", f"8. processes and a read replica: requests/s ({options.http_connections} connections, {generator})"
    )
    home = Path(tempfile.mkdtemp(prefix="opentr-bench-scale-"))
    try:
        with ReplicatedPostgres() as servers, dataset.redis(home) as redis_url:
            primary, replica = servers.create_database("opentr_bench_scale")
            users, _ = dataset.generate(primary, options, say=lambda _: None)
            servers.wait_replayed()
            run_ctx = Context(options, primary, redis_url, users, ctx.server_version)
            user = users[0]
            paths = {
                "file page": [f"/api/files/{uuid}" for uuid in user.file_uuids],
                "transcript": [f"/api/files/{uuid}/transcript" for uuid in user.file_uuids],
            }
            for reads in ("primary", "replica"):
                extra = {"DATABASE_REPLICA_URLS": schema.to_url(replica)} if reads == "replica" else {}
                for processes in PROCESSES:
                    row: dict[str, Any] = {"reads": reads, "processes": processes}
                    with serve(run_ctx, POOL_PER_PROCESS, home, processes, extra) as base:
                        for name, cycle in paths.items():
                            found = load(generator, base, cycle, user.token, run_ctx, home, {})
                            row[f"{name} rps"] = found["rps"]
                            row[f"{name} p99_ms"] = found["p99_ms"]
                            row[f"{name} errors"] = found["errors"] + found["non_2xx"]
                    measure.rows.append(row)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    measure.notes.append(
        f"dataset: {options.files} files, {options.segments:,} segments; DB_POOL_MAX {POOL_PER_PROCESS} per process;"
        " the replica runs on the same cores as the primary, uvicorn and the load generator"
    )
    return measure
