"""Measures 3 and 6: the API under uvicorn, driven by a load generator in another process, for several pool sizes.

For each pool size, uvicorn serves `web.app:create_app` in a subprocess (DB_POOL_MIN = DB_POOL_MAX = the size) and
the load generator — `wrk` when installed, else `python -m bench.loadgen` — keeps a fixed number of connections
busy on each endpoint in turn, after a warm-up. Measure 3 reports requests/s and p50/p95/p99 at one pool size;
measure 6 compares throughput across the sizes and recommends the smallest pool within 5 % of the best.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import psycopg

from bench import Context, Measure
from bench.dataset import SEARCH_QUERIES, delete_files, new_file, transcript
from config.settings import PROJECT_ROOT
from repo import schema
from repo.segments import SegmentRepository

WRK_SCRIPT = """%(statuses)s
local paths = {%(paths)s}
local counter = 0
wrk.headers["Authorization"] = "Bearer %(token)s"
%(headers)srequest = function()
  counter = counter + 1
  return wrk.format("GET", paths[(counter %% #paths) + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_JSON {\\"requests\\":%%d,\\"duration_us\\":%%d,\\"bytes\\":%%d,\\"errors\\":%%d,\\"non_2xx\\":%%d," ..
    "\\"p50_us\\":%%d,\\"p95_us\\":%%d,\\"p99_us\\":%%d,\\"mean_us\\":%%.1f,\\"max_us\\":%%d}\\n",
    summary.requests, summary.duration, summary.bytes, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.mean, latency.max))
  %(statuses_done)s
end
"""
# Counting each status needs wrk's per-response Lua callback (which costs wrk a copy of every body): only when
# asked. Each wrk thread has a Lua state of its own; `done` collects their counts through setup's thread handles.
WRK_STATUSES = """
local threads = {}
setup = function(thread) table.insert(threads, thread) end
init = function(args) statuses = {} end
response = function(status, headers, body) statuses[status] = (statuses[status] or 0) + 1 end
"""
WRK_STATUSES_DONE = """for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      io.write(string.format("BENCH_STATUS %d %d\\n", status, count))
    end
  end"""


GZIP = {"Accept-Encoding": "gzip"}
IDENTITY = {"Accept-Encoding": "identity"}  # httpx (bench/loadgen.py) asks for gzip unless told otherwise
ETAG_OF_FIRST_PATH = "<etag>"  # replaced by the ETag the first path answers with
REVALIDATE = {"If-None-Match": ETAG_OF_FIRST_PATH}


def endpoints(ctx: Context, long_uuid: str) -> list[tuple[str, str, list[str], dict[str, str]]]:
    """(short name, route, the paths the load cycles through, extra request headers)."""
    user = ctx.users[0]
    transcripts = [f"/api/files/{u}/transcript" for u in user.file_uuids]
    long = [f"/api/files/{long_uuid}/transcript"]
    size = ctx.options.long_transcript
    return [
        ("files", "GET /api/files?limit=50", ["/api/files?limit=50"], IDENTITY),
        ("transcript", "GET /api/files/{uuid}/transcript", transcripts, IDENTITY),
        ("transcript_gzip", "GET /api/files/{uuid}/transcript (gzip)", transcripts, GZIP),
        ("transcript_304", "GET /api/files/{uuid}/transcript (If-None-Match, 304)", transcripts[:1], REVALIDATE),
        ("long", f"GET transcript of {size:,} segments", long, IDENTITY),
        ("long_gzip", f"GET transcript of {size:,} segments (gzip)", long, GZIP),
        ("search", "GET /api/search?q=…", [f"/api/search?q={quote(q)}" for q in SEARCH_QUERIES], IDENTITY),
        ("search_gzip", "GET /api/search?q=… (gzip)", [f"/api/search?q={quote(q)}" for q in SEARCH_QUERIES], GZIP),
    ]


def _long_transcript(ctx: Context) -> tuple[int, str]:
    """A file of the first user with a 3-hour transcript (deleted after the measure)."""
    with psycopg.connect(ctx.url, autocommit=True) as conn:
        file_id = new_file(conn, ctx.users[0], "long-transcript")
        SegmentRepository(conn).replace_transcript(file_id, transcript(ctx.options.long_transcript))
        conn.execute("UPDATE media_files SET status = 'completed' WHERE id = %s", [file_id])
        row = conn.execute("SELECT uuid::text FROM media_files WHERE id = %s", [file_id]).fetchone()
    assert row is not None
    return file_id, str(row[0])


def tool(choice: str) -> str:
    if choice == "auto":
        return "wrk" if shutil.which("wrk") else "python"
    if choice == "wrk" and not shutil.which("wrk"):
        raise SystemExit("--loadgen wrk: wrk is not installed")
    return choice


def run(ctx: Context) -> list[Measure]:
    options = ctx.options
    generator = tool(options.loadgen)
    http = Measure("http", f"3. HTTP under uvicorn ({options.http_connections} connections, load: {generator})")
    pools = Measure("pool_sizing", "6. pool sizing: requests/s per pool size")
    sizes = list(dict.fromkeys([*options.pool_sizes]))
    if options.http_pool_size not in sizes:
        sizes.append(options.http_pool_size)
    home = Path(tempfile.mkdtemp(prefix="opentr-bench-http-"))
    results: dict[int, dict[str, dict[str, Any]]] = {}
    long_id, long_uuid = _long_transcript(ctx)
    try:
        for size in sizes:
            results[size] = {}
            with serve(ctx, size, home) as base:
                for name, _, paths, headers in endpoints(ctx, long_uuid):
                    results[size][name] = load(generator, base, paths, ctx.users[0].token, ctx, home, headers)
    finally:
        shutil.rmtree(home, ignore_errors=True)
        delete_files(ctx.url, [long_id])

    for name, route, _, _ in endpoints(ctx, long_uuid):
        found = results[options.http_pool_size][name]
        http.rows.append({"endpoint": route, "pool": options.http_pool_size, **_figures(found)})
    names = [name for name, _, _, _ in endpoints(ctx, long_uuid)]
    best = {name: max(results[size][name]["rps"] for size in sizes) or 1.0 for name in names}
    scores: dict[int, float] = {}
    for size in sorted(sizes):
        row: dict[str, Any] = {"pool": size}
        for name in names:
            row[f"{name} rps"] = results[size][name]["rps"]
            row[f"{name} p99_ms"] = results[size][name]["p99_ms"]
        scores[size] = sum(results[size][name]["rps"] / best[name] for name in names) / len(names)
        row["relative_throughput"] = round(scores[size], 3)
        pools.rows.append(row)
    top = max(scores.values())
    recommended = min(size for size in sizes if scores[size] >= 0.95 * top)
    pools.extra["recommended_pool_size"] = recommended
    pools.extra["per_pool"] = {str(size): results[size] for size in sorted(sizes)}
    pools.notes.append(
        f"recommended: the smallest pool within 5 % of the best mean relative throughput = {recommended} "
        f"(one uvicorn worker, {options.http_connections} concurrent connections)"
    )
    http.notes.append(
        f"load generator: {generator}; {options.http_duration:g} s measured after {options.http_warmup:g} s"
    )
    return [http, pools]


def _figures(result: dict[str, Any]) -> dict[str, Any]:
    keys = ("rps", "p50_ms", "p95_ms", "p99_ms", "requests", "errors", "non_2xx", "bytes_per_response")
    return {key: result.get(key) for key in keys}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve(
    ctx: Context, pool_size: int, home: Path, workers: int | None = None, extra_env: dict[str, str] | None = None
) -> Iterator[str]:
    """uvicorn serving the app on the benchmark database with this pool size (and `workers` processes, default
    --http-workers); yields its base URL."""
    env = {
        **os.environ,
        "DATABASE_URL": schema.to_url(ctx.url),
        "REDIS_URL": ctx.redis_url,
        "OPENTR_HOME": str(home / "home"),
        "OPENTR_SECRET_KEY": secrets.token_urlsafe(32),
        "OPENTR_ENV": "dev",
        "DB_POOL_MIN": str(pool_size),
        "DB_POOL_MAX": str(pool_size),
        "DB_POOL_TIMEOUT": "30",
        "DB_SLOW_QUERY_MS": "60000",
        **(extra_env or {}),
    }
    log_path = home / f"uvicorn-pool-{pool_size}-{workers or ctx.options.http_workers}.log"
    with uvicorn("web.app:create_app", env, workers or ctx.options.http_workers, log_path) as base:
        yield base


@contextmanager
def uvicorn(factory: str, env: dict[str, str], workers: int, log_path: Path) -> Iterator[str]:
    """`uvicorn --factory <factory>` in a subprocess on a free port (its output in `log_path`), once it answers
    /api/health; yields its base URL and stops it afterwards."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [
        sys.executable, "-m", "uvicorn", "--factory", factory, "--host", "127.0.0.1", "--port", str(port),
        "--workers", str(workers), "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_ready(base, process, log_path)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_ready(base: str, process: subprocess.Popen[bytes], log_path: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"uvicorn exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"{base}/api/health", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"uvicorn was not ready within {timeout:g} s:\n{log_path.read_text()[-3000:]}")


def load(
    generator: str,
    base: str,
    paths: list[str],
    token: str,
    ctx: Context,
    home: Path,
    headers: dict[str, str],
    *,
    connections: int | None = None,
    statuses: bool = False,
) -> dict[str, Any]:
    """Requests/s, errors, non-2xx answers, latency percentiles, and with `statuses` the count of each status, of
    `connections` (default --http-connections) clients on `paths`."""
    options = ctx.options
    clients = connections or options.http_connections
    etag = _check(base, paths[0], token)
    headers = {k: etag if v == ETAG_OF_FIRST_PATH else v for k, v in headers.items()}
    if generator == "wrk":
        script = home / "bench.lua"
        listed = ", ".join(f'"{p}"' for p in paths)
        extra = "".join(f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}\n" for k, v in headers.items())
        script.write_text(
            WRK_SCRIPT
            % {
                "paths": listed,
                "token": token,
                "headers": extra,
                "statuses": WRK_STATUSES if statuses else "",
                "statuses_done": WRK_STATUSES_DONE if statuses else "",
            }
        )
        threads = str(min(2, clients))
        for seconds in (options.http_warmup, options.http_duration):
            command = ["wrk", "-t", threads, "-c", str(clients), "-d", f"{max(1, round(seconds))}s",
                       "--timeout", "30s", "-s", str(script), base]  # fmt: skip
            done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=True)
        line = next(x for x in done.stdout.splitlines() if x.startswith("BENCH_JSON "))
        raw = json.loads(line.removeprefix("BENCH_JSON "))
        seconds_run = raw["duration_us"] / 1e6
        counted: dict[str, int] = {}
        for status_line in (x.split() for x in done.stdout.splitlines() if x.startswith("BENCH_STATUS ")):
            counted[status_line[1]] = counted.get(status_line[1], 0) + int(status_line[2])
        return {
            "tool": "wrk",
            "requests": raw["requests"],
            "seconds": round(seconds_run, 2),
            "rps": round(raw["requests"] / seconds_run, 1),
            "errors": raw["errors"],
            "non_2xx": raw["non_2xx"],
            **({"statuses": dict(sorted(counted.items()))} if statuses else {}),
            "bytes_per_response": round(raw["bytes"] / raw["requests"]) if raw["requests"] else 0,
            "p50_ms": round(raw["p50_us"] / 1000, 2),
            "p95_ms": round(raw["p95_us"] / 1000, 2),
            "p99_ms": round(raw["p99_us"] / 1000, 2),
            "mean_ms": round(raw["mean_us"] / 1000, 2),
            "max_ms": round(raw["max_us"] / 1000, 2),
        }
    command = [sys.executable, "-m", "bench.loadgen", "--base", base, "--header", f"Authorization: Bearer {token}",
               "--connections", str(clients), "--processes", "2",
               "--duration", str(options.http_duration), "--warmup", str(options.http_warmup)]  # fmt: skip
    for path in paths:
        command += ["--path", path]
    for name, value in headers.items():
        command += ["--header", f"{name}: {value}"]
    timeout = options.http_duration + options.http_warmup + 120
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=True, cwd=PROJECT_ROOT)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _check(base: str, path: str, token: str) -> str:
    """One request first: a benchmark of 401s or 500s would be worthless. Returns the response's ETag, if any."""
    response = httpx.get(base + path, headers={"Authorization": f"Bearer {token}"}, timeout=60.0)
    if response.status_code != 200:
        raise RuntimeError(f"GET {path} answered {response.status_code}: {response.text[:500]}")
    return str(response.headers.get("etag", ""))
