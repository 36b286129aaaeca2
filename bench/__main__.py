"""`python -m bench`: build the dataset once, run every measure on it, print tables, write bench/results/<ts>.json.

    python -m bench                    # the full run (10 users, 1,000 files, 1M segments; ~15 minutes on 2 cores)
    python -m bench --smoke            # a tiny run for CI (well under a minute); asserts nothing about time
    python -m bench --only search,http --segments 200000
    python -m bench --only speakers    # builds its own voices; the shared dataset shrinks to a token
    python -m bench --only scale       # 1, 2, 4 uvicorn processes, reads on the primary and on a replica

The database is created on DATABASE_URL's server (an embedded one when unset) and dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import psycopg

from bench import Context, Measure, Options, dataset

MEASURES = (
    "layer",
    "orm",
    "search",
    "http",
    "ingest",
    "asr",
    "speakers",
    "sharing",
    "rls",
    "embedding",
    "vectors",
    "scale",
    "oldstack",
    "concurrency",
)
# Measures that bring their own servers (scale and concurrency: a primary with a replica; concurrency PgBouncer too)
# or need none.
STANDALONE = {"asr", "scale", "concurrency"}
DEFAULT = tuple(m for m in MEASURES if m != "scale")  # scale starts 6 uvicorns and 2 clusters: only when asked
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(x.replace("_", "")) for x in text.split(",") if x.strip())


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--smoke", action="store_true", help="tiny sizes for CI (well under a minute)")
    p.add_argument(
        "--only",
        default=",".join(DEFAULT),
        help=f"comma-separated subset of {','.join(MEASURES)} (default: all but scale)",
    )
    p.add_argument("--users", type=int, help="dataset users (default 10)")
    p.add_argument("--files", type=int, help="dataset files, spread over the users (default 1000)")
    p.add_argument("--segments", type=int, help="dataset segments, spread over the files (default 1000000)")
    p.add_argument("--no-words", action="store_true", help="dataset segments without word timings")
    p.add_argument("--layer-iterations", type=int, help="calls per operation and side in measure 1 (default 1000)")
    p.add_argument("--orm-iterations", type=int, help="calls per read and side in measure 2 (default 50)")
    p.add_argument("--orm-segments", type=int, help="segments per ingest in measure 2 (default 10000)")
    p.add_argument("--ingest-sizes", type=_ints, help="transcript sizes for measure 4 (default 10800,100000)")
    p.add_argument("--search-repeats", type=int, help="runs per query in measure 5 (default 40)")
    p.add_argument("--http-duration", type=float, help="measured seconds per endpoint and pool size (default 10)")
    p.add_argument("--http-connections", type=int, help="concurrent connections of the load (default 16)")
    p.add_argument("--http-workers", type=int, help="uvicorn worker processes (default 1)")
    p.add_argument("--pool-sizes", type=_ints, help="pool sizes to sweep (default 2,5,10,20)")
    p.add_argument("--loadgen", choices=("auto", "wrk", "python"), help="load generator (default: wrk if installed)")
    p.add_argument("--no-explain", action="store_true", help="skip EXPLAIN ANALYZE of the slowest search")
    p.add_argument("--keep-db", action="store_true", help="keep the benchmark database (to profile it by hand)")
    p.add_argument("--reuse-db", metavar="NAME", help="measure a database kept by --keep-db instead of a new one")
    p.add_argument("--out", type=Path, default=RESULTS_DIR, help="directory for the JSON results")
    return p


def options_from(args: argparse.Namespace) -> Options:
    chosen: dict[str, Any] = {
        "users": args.users,
        "files": args.files,
        "segments": args.segments,
        "layer_iterations": args.layer_iterations,
        "orm_read_iterations": args.orm_iterations,
        "orm_ingest_segments": args.orm_segments,
        "ingest_sizes": args.ingest_sizes,
        "search_repeats": args.search_repeats,
        "http_duration": args.http_duration,
        "http_connections": args.http_connections,
        "http_workers": args.http_workers,
        "pool_sizes": args.pool_sizes,
        "loadgen": args.loadgen,
    }
    overrides = {k: v for k, v in chosen.items() if v is not None}
    if args.no_words:
        overrides["words"] = False
    if args.no_explain:
        overrides["explain"] = False
    options = Options.smoke_sized(**overrides) if args.smoke else replace(Options(), **overrides)
    if options.pool_sizes and options.http_pool_size not in options.pool_sizes:
        options = replace(options, http_pool_size=sorted(options.pool_sizes)[len(options.pool_sizes) // 2])
    return options


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def machine() -> dict[str, Any]:
    cpu = "unknown"
    memory_kb = 0
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
        memory_kb = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
    except (OSError, StopIteration, ValueError):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kb / 1024 / 1024, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def versions(server_version: str) -> dict[str, str]:
    found = {"postgresql": server_version}
    for package in ("psycopg", "psycopg-pool", "sqlalchemy", "starlette", "uvicorn", "pydantic", "httpx"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    if shutil.which("wrk"):
        done = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=10, check=False)
        found["wrk"] = (done.stdout or done.stderr).strip().splitlines()[0] if (done.stdout or done.stderr) else "?"
    return found


def table(rows: Sequence[dict[str, Any]]) -> str:
    """A plain-text table of dict rows with the same keys."""
    if not rows:
        return "(no rows)"
    columns = list(rows[0])
    cells = [[_cell(row.get(column)) for column in columns] for row in rows]
    widths = [max(len(column), *(len(line[i]) for line in cells)) for i, column in enumerate(columns)]
    numeric = [all(_is_number(row.get(column)) for row in rows) for column in columns]

    def fmt(values: list[str]) -> str:
        return "  ".join(v.rjust(w) if n else v.ljust(w) for v, w, n in zip(values, widths, numeric, strict=True))

    return "\n".join([fmt(columns), fmt(["-" * w for w in widths]), *(fmt(line) for line in cells)])


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "met" if value else "NOT met"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def runner(name: str) -> Callable[[Context], Measure | list[Measure]]:
    if name == "layer":
        from bench import layer

        return layer.run
    if name == "orm":
        from bench import orm

        return orm.run
    if name == "search":
        from bench import search

        return search.run
    if name == "http":
        from bench import http

        return http.run
    if name == "asr":
        from bench import asr

        return asr.run
    if name == "speakers":
        from bench import speakers

        return speakers.run
    if name == "sharing":
        from bench import sharing

        return sharing.run
    if name == "rls":
        from bench import rls

        return rls.run
    if name == "scale":
        from bench import scale

        return scale.run
    if name == "embedding":
        from bench import embedding

        return embedding.run
    if name == "oldstack":
        from bench import oldstack

        return oldstack.run
    if name == "concurrency":
        from bench import concurrency

        return concurrency.run
    if name == "vectors":
        from bench import vectors

        return vectors.run
    from bench import ingest

    return ingest.run


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    options = options_from(args)
    wanted = [m.strip() for m in args.only.split(",") if m.strip()]
    unknown = set(wanted) - set(MEASURES)
    if unknown:
        parser().error(f"--only: unknown measure(s) {', '.join(sorted(unknown))}")
    if set(wanted) == {"speakers"}:  # measure 7 loads its own data: skip generating the big shared dataset
        options = replace(options, users=1, files=1, segments=100)
    started = datetime.now(UTC)
    report: dict[str, Any] = {
        "started_at": started.isoformat(),
        "command": ["python", "-m", "bench", *(sys.argv[1:] if argv is None else argv)],
        "options": asdict(options),
        "machine": machine(),
    }
    measures: dict[str, Any] = {}
    failed = False
    home = Path(tempfile.mkdtemp(prefix="opentr-bench-"))
    try:
        standalone = [m for m in MEASURES if m in wanted and m in STANDALONE]
        failed |= _measure(standalone, Context(options, "", "", [], ""), measures)
        if not set(wanted) - STANDALONE:
            return _finish(report, measures, started, args, options, failed)
        with (
            dataset.server() as admin,
            dataset.redis(home) as redis_url,
            dataset.database(admin, keep=args.keep_db, reuse=args.reuse_db) as url,
        ):
            with psycopg.connect(url, autocommit=True) as conn:
                row = conn.execute("SHOW server_version").fetchone()
                server_version = str(row[0]) if row else "?"
            report["versions"] = versions(server_version)
            report["server"] = "DATABASE_URL" if os.environ.get("DATABASE_URL") else "embedded (pgserver)"
            say(
                f"generating the dataset: {options.users} users, {options.files:,} files, {options.segments:,} segments"
            )
            if args.reuse_db:
                users, seconds = dataset.existing(url), 0.0
            else:
                users, seconds = dataset.generate(url, options, say=say)
            report["dataset"] = {**dataset.counts(url), "words": options.words, "generation_seconds": round(seconds, 1)}
            say(f"dataset ready in {seconds:.1f} s: {report['dataset']}")
            ctx = Context(options, url, redis_url, users, server_version)
            failed |= _measure([m for m in MEASURES if m in wanted and m not in STANDALONE], ctx, measures)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return _finish(report, measures, started, args, options, failed)


def _measure(names: list[str], ctx: Context, measures: dict[str, Any]) -> bool:
    """Run the named measures into `measures`; True when one of them failed."""
    failed = False
    for name in names:
        say(f"measure {name}")
        began = time.perf_counter()
        try:
            produced = runner(name)(ctx)
        except Exception as exc:
            failed = True
            traceback.print_exc()
            measures[name] = {"error": f"{type(exc).__name__}: {exc}"}
            continue
        for measure in produced if isinstance(produced, list) else [produced]:
            measure.seconds = time.perf_counter() - began
            measures[measure.name] = measure.as_json()
            print(f"\n== {measure.title}\n{table(measure.rows)}", flush=True)
            for note in measure.notes:
                print(f"   note: {note}", flush=True)
    return failed


def _finish(
    report: dict[str, Any],
    measures: dict[str, Any],
    started: datetime,
    args: argparse.Namespace,
    options: Options,
    failed: bool,
) -> int:
    report["measures"] = measures
    report["targets"] = [t for m in measures.values() for t in m.get("targets", [])]
    report["seconds"] = round((datetime.now(UTC) - started).total_seconds(), 1)
    if report["targets"]:
        print(f"\n== targets\n{table(report['targets'])}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{started.strftime('%Y%m%dT%H%M%SZ')}{'-smoke' if options.smoke else ''}.json"
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"\nresults: {path}  ({report['seconds']:.0f} s)", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
