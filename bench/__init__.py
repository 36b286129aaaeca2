"""Benchmarks (not tests): `python -m bench` prints a table and writes JSON.

Every measure is a module with `run(ctx) -> Measure`; this module holds what they share: the run's options, the
statistics, and the shape of a result (rows for the table, targets judged met or not).
"""

from __future__ import annotations

import math
import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from repo.rows import Actor


@dataclass(frozen=True)
class Options:
    """Sizes and repetition counts of one run; `--smoke` picks tiny ones."""

    users: int = 10
    files: int = 1_000
    segments: int = 1_000_000
    words: bool = True  # dataset segments carry word timings, like WhisperX output
    layer_iterations: int = 1_000
    orm_read_iterations: int = 50
    orm_ingest_segments: int = 10_000
    orm_ingest_repeats: int = 3
    detail_segments: int = 1_000
    ingest_sizes: tuple[int, ...] = (10_800, 100_000)
    ingest_repeats: int = 3
    search_repeats: int = 40
    http_duration: float = 10.0
    http_warmup: float = 2.0
    http_connections: int = 16
    http_workers: int = 1
    pool_sizes: tuple[int, ...] = (2, 5, 10, 20)
    http_pool_size: int = 10  # the pool size whose HTTP figures measure 3 reports
    long_transcript: int = 10_800  # segments of the long transcript measure 3 serves (a 3-hour recording)
    loadgen: str = "auto"  # auto | wrk | python
    explain: bool = True
    smoke: bool = False

    @classmethod
    def smoke_sized(cls, **overrides: Any) -> Options:
        sizes: dict[str, Any] = {
            "users": 2,
            "files": 20,
            "segments": 4_000,
            "layer_iterations": 20,
            "orm_read_iterations": 3,
            "orm_ingest_segments": 300,
            "orm_ingest_repeats": 1,
            "detail_segments": 200,
            "ingest_sizes": (1_000,),
            "ingest_repeats": 1,
            "search_repeats": 2,
            "http_duration": 1.0,
            "http_warmup": 0.3,
            "http_connections": 4,
            "pool_sizes": (5,),
            "http_pool_size": 5,
            "long_transcript": 300,
            "smoke": True,
        }
        sizes.update(overrides)
        return cls(**sizes)


@dataclass
class BenchUser:
    id: int
    email: str
    token: str
    file_ids: list[int]
    file_uuids: list[str]

    @property
    def actor(self) -> Actor:
        return Actor(self.id, False)


@dataclass
class Context:
    """What every measure gets: the options, the benchmark database and the dataset built in it."""

    options: Options
    url: str  # conninfo of the benchmark database
    redis_url: str
    users: list[BenchUser]
    server_version: str


@dataclass
class Measure:
    name: str
    title: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    targets: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def target(self, name: str, goal: str, value: float, met: bool, unit: str = "", note: str = "") -> None:
        self.targets.append({"target": name, "goal": goal, "value": value, "unit": unit, "met": met, "note": note})

    def as_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "rows": self.rows,
            "targets": self.targets,
            "notes": self.notes,
            "extra": self.extra,
            "seconds": round(self.seconds, 2),
        }


def median(samples: Sequence[float]) -> float:
    return statistics.median(samples) if samples else math.nan


def percentile(samples: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100)."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def alternate(
    first: Callable[[int], object], second: Callable[[int], object], iterations: int, rng: random.Random
) -> tuple[list[float], list[float]]:
    """Warm both up, then call them alternately (random order in each pair); seconds per call of each."""
    for i in range(max(2, iterations // 10)):
        first(i)
        second(i)
    first_samples: list[float] = []
    second_samples: list[float] = []
    for i in range(iterations):
        pair = [(first, first_samples), (second, second_samples)]
        rng.shuffle(pair)
        for fn, samples in pair:
            started = time.perf_counter()
            fn(i)
            samples.append(time.perf_counter() - started)
    return first_samples, second_samples


def timed(fn: Callable[[], object]) -> float:
    """Seconds one call of `fn` took."""
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def ms(seconds: float) -> float:
    return round(seconds * 1000, 3)
