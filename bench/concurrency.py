"""`--only concurrency`: 200 concurrent clients against one uvicorn process, reading (a) through the pool on the
primary, (b) with a streaming replica in DATABASE_REPLICA_URLS, (c) through Debian's PgBouncer in transaction
mode; requests/s, p50/p99 and every status counted.

Like `--only scale` the measure brings its own servers (bench/cluster.py: a primary, a `pg_basebackup -R`
replica and PgBouncer in front of the primary, all on 127.0.0.1) and a dataset of at most 200 files and 100,000
segments on the primary. Each configuration is a fresh `uvicorn` (one process, the defaults an operator gets:
DB_POOL_MAX 10, DB_POOL_TIMEOUT 10 s) under 200 connections on the file page, then on the transcripts. The README's
promise is that requests beyond the pool wait up to DB_POOL_TIMEOUT and then get 503; the target here is that at
these settings 200 clients get no 5xx at all.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

from bench import Context, Measure, dataset
from bench.cluster import PgBouncer, ReplicatedPostgres
from bench.http import load, serve, tool
from repo import schema

CLIENTS = 200
POOL_MAX = 10  # the default DB_POOL_MAX
POOL_TIMEOUT = 10.0  # the default DB_POOL_TIMEOUT
BOUNCER_POOL = 20  # PgBouncer's default_pool_size: server connections per database and user
SMOKE_SECONDS = 4.0


def run(ctx: Context) -> Measure:
    options = replace(ctx.options, files=min(ctx.options.files, 200), segments=min(ctx.options.segments, 100_000))
    if options.smoke:
        # 200 clients on one process: on a loaded machine (CI runs two passes side by side) the first answers take
        # longer than the smoke's 1.3 s, and a window with none counted proves nothing. Still short: 3 configurations.
        options = replace(options, http_duration=max(options.http_duration, SMOKE_SECONDS), http_warmup=0.5)
    generator = tool(options.loadgen)
    measure = Measure("concurrency", f"{CLIENTS} concurrent clients: pool, replica, PgBouncer ({generator})")
    home = Path(tempfile.mkdtemp(prefix="opentr-bench-concurrency-"))
    server_errors = 0
    try:
        with (
            ReplicatedPostgres() as servers,
            PgBouncer(servers.primary.admin_url, pool_size=BOUNCER_POOL) as bouncer,
            dataset.redis(home) as redis_url,
        ):
            name = "opentr_bench_concurrency"
            primary, replica = servers.create_database(name)
            users, _ = dataset.generate(primary, options, say=lambda _: None)
            servers.wait_replayed()
            run_ctx = Context(options, primary, redis_url, users, ctx.server_version)
            user = users[0]
            paths = {"file page": ["/api/files?limit=50"]}
            if not options.smoke:  # the smoke run proves the measure works; one route is enough for that
                paths["transcript"] = [f"/api/files/{uuid}/transcript" for uuid in user.file_uuids]
            pool = {"DB_POOL_MIN": str(POOL_MAX), "DB_POOL_TIMEOUT": f"{POOL_TIMEOUT:g}"}
            configurations: dict[str, dict[str, str]] = {
                "pool on the primary": {},
                "replica (DATABASE_REPLICA_URLS)": {"DATABASE_REPLICA_URLS": schema.to_url(replica)},
                "PgBouncer, transaction mode": {
                    "DATABASE_URL": bouncer.url(name),
                    "DATABASE_DIRECT_URL": schema.to_url(primary),
                },
            }
            for label, extra in configurations.items():
                with serve(run_ctx, POOL_MAX, home, 1, {**pool, **extra}) as base:
                    for route, cycle in paths.items():
                        before = _pool_stats(base)
                        found = load(generator, base, cycle, user.token, run_ctx, home, {"Accept-Encoding": "identity"},
                                     connections=CLIENTS, statuses=True)  # fmt: skip
                        statuses: dict[str, int] = found.get("statuses", {})
                        errors = {code: n for code, n in statuses.items() if not code.startswith("2")}
                        server_errors += sum(n for code, n in errors.items() if code.startswith("5"))
                        server_errors += found["errors"]
                        measure.rows.append(_row(label, route, found, errors, before, _pool_stats(base)))
                # How often the router gave up on the replica (repo/replicas.py logs each time it does).
                log = (home / f"uvicorn-pool-{POOL_MAX}-1.log").read_text(errors="replace")
                for row in measure.rows[-len(paths) :]:
                    row["replica_marked_down"] = log.count("is unavailable; reading from the primary")
    finally:
        shutil.rmtree(home, ignore_errors=True)
    measure.target(
        f"{CLIENTS} concurrent clients: no 5xx",
        "0 (pool, replica, PgBouncer)",
        server_errors,
        server_errors == 0,
        " 5xx or failed",
    )
    measure.notes.append(
        f"{CLIENTS} connections, one uvicorn process, DB_POOL_MAX {POOL_MAX}, DB_POOL_TIMEOUT {POOL_TIMEOUT:g} s, "
        f"PgBouncer default_pool_size {BOUNCER_POOL}; dataset {options.files} files, {options.segments:,} segments; "
        f"{options.http_duration:g} s after {options.http_warmup:g} s of warm-up"
    )
    return measure


def _pool_stats(base: str) -> dict[str, int]:
    """The web process's pool counters (psycopg_pool's, through /api/health)."""
    pool: dict[str, int] = httpx.get(f"{base}/api/health", timeout=30).json()["pool"]
    return pool


def _row(
    label: str,
    route: str,
    found: dict[str, Any],
    errors: dict[str, int],
    before: dict[str, int],
    after: dict[str, int],
) -> dict[str, Any]:
    def grew(key: str) -> int:
        return after.get(key, 0) - before.get(key, 0)

    checkouts = max(grew("requests_num"), 1)
    queued = grew("requests_queued")
    return {
        "reads": label,
        "route": route,
        "rps": found["rps"],
        "p50_ms": found["p50_ms"],
        "p99_ms": found["p99_ms"],
        "max_ms": found["max_ms"],
        "requests": found["requests"],
        "non_2xx": ", ".join(f"{code}: {n}" for code, n in sorted(errors.items())) or "none",
        "failed": found["errors"],
        # How close the pool came to DB_POOL_TIMEOUT: the share of checkouts that waited for a connection, their
        # mean wait, and how long a connection was held per checkout (warm-up included).
        "pool_checkouts": grew("requests_num"),  # of the primary's pool (a replica's pool is its own)
        "pool_queued_pct": round(100 * queued / checkouts, 1),
        "pool_wait_ms_mean": round(grew("requests_wait_ms") / queued, 1) if queued else 0.0,
        "pool_hold_ms_mean": round(grew("usage_ms") / checkouts, 1),
        "pool_timeouts": grew("requests_errors"),
    }
