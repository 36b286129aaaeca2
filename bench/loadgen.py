"""A small closed-loop HTTP load generator for machines without `wrk`: several processes, each many connections.

    python -m bench.loadgen --base http://127.0.0.1:8000 --path /api/files?limit=50 \
        --header "Authorization: Bearer ..." --connections 16 --processes 2 --duration 10 --warmup 2

Every connection sends its next request as soon as the previous answer is read (like wrk), cycling through the
given paths. Requests that start during the warm-up are not counted. Prints one JSON object: requests, seconds,
requests/s, errors, non-2xx answers, the count of each status and p50/p95/p99/mean/max latency in ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import time
from dataclasses import dataclass
from typing import Any

import httpx

from bench import percentile


@dataclass(frozen=True)
class Plan:
    base: str
    paths: list[str]
    headers: dict[str, str]
    connections: int
    start_at: float  # time.time() at which every process starts sending
    warmup: float
    duration: float


def _worker(plan: Plan, offset: int) -> dict[str, Any]:
    return asyncio.run(_drive(plan, offset))


async def _drive(plan: Plan, offset: int) -> dict[str, Any]:
    latencies: list[float] = []
    counts = {"errors": 0, "non_2xx": 0, "bytes": 0}
    statuses: dict[str, int] = {}
    limits = httpx.Limits(max_connections=plan.connections, max_keepalive_connections=plan.connections)
    async with httpx.AsyncClient(base_url=plan.base, headers=plan.headers, limits=limits, timeout=30.0) as client:
        await asyncio.sleep(max(0.0, plan.start_at - time.time()))
        begin = time.perf_counter()
        measured_from = begin + plan.warmup
        until = measured_from + plan.duration

        async def connection(index: int) -> None:
            n = index
            while True:
                started = time.perf_counter()
                if started >= until:
                    return
                path = plan.paths[n % len(plan.paths)]
                n += plan.connections
                try:
                    response = await client.get(path)
                    # 304 is a success (revalidation); size is the body as sent (compressed when it was)
                    ok, size = response.status_code < 400, response.num_bytes_downloaded
                except httpx.HTTPError:
                    ok, size = False, 0
                    if started >= measured_from:
                        counts["errors"] += 1
                    continue
                finished = time.perf_counter()
                if started >= measured_from and finished <= until:
                    latencies.append(finished - started)
                    counts["bytes"] += size
                    if not ok:
                        counts["non_2xx"] += 1
                    code = str(response.status_code)
                    statuses[code] = statuses.get(code, 0) + 1

        await asyncio.gather(*(connection(offset + i) for i in range(plan.connections)))
    return {"latencies": latencies, "statuses": statuses, **counts}


def run(
    base: str,
    paths: list[str],
    headers: dict[str, str],
    *,
    connections: int,
    processes: int,
    duration: float,
    warmup: float,
) -> dict[str, Any]:
    processes = max(1, min(processes, connections))
    per_process = [connections // processes + (1 if i < connections % processes else 0) for i in range(processes)]
    start_at = time.time() + 1.5  # time for the spawned processes to import httpx
    plans = [Plan(base, paths, headers, n, start_at, warmup, duration) for n in per_process]
    offsets = [sum(per_process[:i]) for i in range(processes)]
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        parts = pool.starmap(_worker, zip(plans, offsets, strict=True))
    latencies = [x for part in parts for x in part["latencies"]]
    statuses: dict[str, int] = {}
    for part in parts:
        for code, count in part["statuses"].items():
            statuses[code] = statuses.get(code, 0) + count
    requests = len(latencies)
    return {
        "tool": "bench.loadgen",
        "requests": requests,
        "seconds": duration,
        "rps": round(requests / duration, 1),
        "errors": sum(p["errors"] for p in parts),
        "non_2xx": sum(p["non_2xx"] for p in parts),
        "statuses": dict(sorted(statuses.items())),
        "bytes_per_response": round(sum(p["bytes"] for p in parts) / requests) if requests else 0,
        "p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "p95_ms": round(percentile(latencies, 95) * 1000, 2),
        "p99_ms": round(percentile(latencies, 99) * 1000, 2),
        "mean_ms": round(sum(latencies) / requests * 1000, 2) if requests else None,
        "max_ms": round(max(latencies) * 1000, 2) if latencies else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="http://host:port")
    parser.add_argument("--path", action="append", required=True, help="a path to GET (repeat to cycle through)")
    parser.add_argument("--header", action="append", default=[], help="'Name: value' (repeatable)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds sent but not counted first")
    args = parser.parse_args(argv)
    headers = dict(h.split(":", 1) for h in args.header)
    result = run(
        args.base,
        args.path,
        {k.strip(): v.strip() for k, v in headers.items()},
        connections=args.connections,
        processes=args.processes,
        duration=args.duration,
        warmup=args.warmup,
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
