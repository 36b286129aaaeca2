"""Measure 13: passages for search by meaning (`python -m bench --only embedding`).

Three questions, on the CPU, with the tiny random-weight model the tests build (tests/tiny_embedding.py: 64-d, one
layer; it is lexical, texts sharing words are close, so it measures cost and word-level retrieval, never meaning):

1. **which window retrieves best** (transcript/passages.py): synthetic transcripts of random words, two kinds of
   query: three words of one segment ("one segment"), and one word of each of three consecutive segments ("a thought
   across segments"); a query is answered when its best passage holds the segment (the middle one); hit@1 and MRR@10
   over every passage of every transcript, for several windows;
2. **embedding throughput**: passages/s of the encoder alone, and of the job's path (cut, embed, replace the file's
   passages in one transaction) for one 3-hour transcript (10,800 segments); the real default model,
   intfloat/multilingual-e5-small (118M parameters, 384-d, ~470 MB ONNX), is not on a machine without the network and
   is stated, not measured: expect it two orders of magnitude slower per passage than the tiny one;
3. **the ingest path is not slowed**: a transcription's completion with and without queueing the embedding job
   (what it now adds to that transaction), after the transcript's COPY (measure 4's path, unchanged), alternated.
"""

from __future__ import annotations

import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psycopg

from bench import Context, Measure, median, ms, timed
from bench.dataset import delete_files, new_file, transcript
from config.settings import Settings
from embeddings.encoder import Encoder
from embeddings.models import load_encoder, model_directory
from jobs.embeddings import queue_embedding
from repo.database import Database
from repo.passages import PassageRepository
from repo.segments import SegmentRepository
from transcript.passages import DEFAULT_WINDOW, Window, cut
from transcript.segments import Segment

WINDOWS: dict[str, Window] = {
    "one segment": Window(max_words=1, max_seconds=1.0, turn_words=0, overlap=0),
    "~30 words, 20 s": Window(max_words=30, max_seconds=20.0, turn_words=10, overlap=1),
    "~70 words, 45 s (default)": DEFAULT_WINDOW,
    "~70 words, 45 s, no overlap": Window(max_words=70, max_seconds=45.0, turn_words=25, overlap=0),
    "~150 words, 90 s": Window(max_words=150, max_seconds=90.0, turn_words=50, overlap=1),
}
REAL_MODEL = "intfloat/multilingual-e5-small: 118M parameters, 384-d, ~470 MB ONNX (not measured offline)"
LONG_TRANSCRIPT = 10_800  # a 3-hour recording, one segment a second or so (measure 4)


@dataclass(frozen=True)
class Sizes:
    files: int
    segments: int
    queries: int
    throughput_passages: int
    job_segments: int
    completions: int


def sizes(ctx: Context) -> Sizes:
    if ctx.options.smoke:
        return Sizes(files=3, segments=60, queries=30, throughput_passages=64, job_segments=300, completions=5)
    return Sizes(files=20, segments=300, queries=400, throughput_passages=2_000, job_segments=LONG_TRANSCRIPT,
                 completions=50)  # fmt: skip


def run(ctx: Context) -> list[Measure]:
    from tests.tiny_embedding import WORDS, build_tiny_embedding

    size = sizes(ctx)
    with tempfile.TemporaryDirectory(prefix="opentr-bench-embedding-") as directory:
        model = build_tiny_embedding(Path(directory) / "tiny-bert")
        encoder = Encoder(model, name="local/tiny-bert", threads=1)
        measures = [
            _windows(encoder, WORDS, size),
            _throughput(ctx, encoder, size),
            _completion(ctx, size),
        ]
    configured = Settings()
    if not ctx.options.smoke and model_directory(configured).is_dir():  # the configured model, when it is here
        real = load_encoder(configured)
        windows = _windows(real, WORDS, size)
        windows.name, windows.title = "embedding_windows_model", f"13d. the same windows with {real.name}"
        measures.append(windows)
    return measures


def _synthetic(rng: random.Random, vocabulary: list[str], count: int) -> list[Segment]:
    segments, at, speaker = [], 0.0, 0
    for _ in range(count):
        words = rng.choices(vocabulary, k=rng.randint(4, 14))
        length = len(words) / 2.5
        if rng.random() < 0.3:
            speaker = rng.randrange(3)
        segments.append(Segment(round(at, 2), round(at + length, 2), " ".join(words), f"SPEAKER_0{speaker}"))
        at += length + 0.2
    return segments


def _windows(encoder: Encoder, vocabulary: list[str], size: Sizes) -> Measure:
    measure = Measure("embedding_windows", "13a. embedding: which passage window retrieves best (tiny lexical model)")
    rng = random.Random(18)
    content = [w for w in vocabulary if len(w) > 3]  # the words a query would use
    files = [_synthetic(rng, content, size.segments) for _ in range(size.files)]
    queries: list[tuple[str, int, Segment]] = []
    for _ in range(size.queries):
        f = rng.randrange(len(files))
        i = rng.randrange(1, size.segments - 1)
        one = files[f][i]
        queries.append((" ".join(rng.sample(one.text.split(), 3)), f, one))
        spread = [rng.choice(files[f][j].text.split()) for j in (i - 1, i, i + 1)]
        queries.append((" ".join(spread), -1 - f, one))
    for label, window in WINDOWS.items():
        passages = [(f, p) for f, segments in enumerate(files) for p in cut(segments, window)]
        started = time.perf_counter()
        vectors = encoder.passages([p.text for _, p in passages])
        seconds = time.perf_counter() - started
        scores: dict[str, list[float]] = {"one segment": [], "across": []}
        hits: dict[str, list[float]] = {"one segment": [], "across": []}
        for text, tag, target in queries:
            f = tag if tag >= 0 else -1 - tag
            order = np.argsort(-(vectors @ encoder.query(text)))[:10]
            relevant = [
                passages[k][0] == f
                and passages[k][1].start_time <= target.start_time
                and target.end_time <= passages[k][1].end_time
                for k in order
            ]
            kind = "one segment" if tag >= 0 else "across"
            hits[kind].append(1.0 if relevant[0] else 0.0)
            scores[kind].append(next((1 / (r + 1) for r, ok in enumerate(relevant) if ok), 0.0))
        measure.rows.append(
            {
                "window": label,
                "passages": len(passages),
                "words_per_passage": round(float(np.mean([len(p.text.split()) for _, p in passages])), 1),
                "hit@1 one segment": round(float(np.mean(hits["one segment"])), 3),
                "hit@1 across 3": round(float(np.mean(hits["across"])), 3),
                "MRR@10 one segment": round(float(np.mean(scores["one segment"])), 3),
                "MRR@10 across 3": round(float(np.mean(scores["across"])), 3),
                "passages_per_s": round(len(passages) / seconds),
            }
        )
    measure.notes.append(
        f"{size.files} transcripts x {size.segments} segments of 4-14 random words, {2 * size.queries} queries; the "
        "tiny model matches words, not meaning: the shortest passages win for one segment's words, and words spread "
        "over three segments are rarely found by any window"
    )
    return measure


def _throughput(ctx: Context, encoder: Encoder, size: Sizes) -> Measure:
    measure = Measure("embedding", "13b. embedding throughput on CPU (tiny model, 1 thread) and the job's path")
    segments = transcript(size.job_segments, seed=18)
    passages = cut(segments)
    texts = [p.text for p in passages][: size.throughput_passages]
    encoder.passages(texts[:8])  # warm up
    encoding = timed(lambda: encoder.passages(texts))
    rate = round(len(texts) / encoding)
    measure.rows.append({"step": f"encoder: {len(texts):,} passages", "seconds": round(encoding, 3), "per_s": rate})
    user = ctx.users[0]
    settings = Settings(db_pool_min=1, db_pool_max=1, db_slow_query_ms=600_000)
    with psycopg.connect(ctx.url, autocommit=True) as conn:
        file_id = new_file(conn, user, "embedding")
    try:
        with Database(ctx.url, settings, application_name="opentr-bench", open=False) as db:
            db.open(wait=True)
            with db.transaction() as conn:
                SegmentRepository(conn).replace_transcript(file_id, segments)
            began = time.perf_counter()
            with db.transaction() as conn:
                source = PassageRepository(conn).source(user.actor, file_id)
            read = time.perf_counter()
            cut_passages = cut(source.segments)
            vectors = encoder.passages([p.text for p in cut_passages]).tolist()
            embedded = time.perf_counter()
            with db.transaction() as conn:
                PassageRepository(conn).replace(user.actor, file_id, "local/tiny-bert", 0, cut_passages, vectors)
            written = time.perf_counter()
    finally:
        delete_files(ctx.url, [file_id])
    total = written - began
    count = len(cut_passages)
    for step, seconds in (
        (f"job: read {len(segments):,} segments", read - began),
        (f"job: cut and embed {count:,} passages", embedded - read),
        (f"job: replace {count:,} passages (one transaction, COPY)", written - embedded),
        (f"job: {len(segments):,} segments -> {count:,} passages, end to end", total),
    ):
        measure.rows.append({"step": step, "seconds": round(seconds, 3), "per_s": round(count / seconds)})
    measure.extra = {
        "passages_per_s_encoder": rate,
        "passages_per_s_job": round(count / total),
        "real_model": REAL_MODEL,
    }
    measure.notes.append(f"the real default model is {REAL_MODEL}")
    return measure


def _completion(ctx: Context, size: Sizes) -> Measure:
    """The transaction that completes a transcription: the transcript's COPY, the file completed, and now the
    embedding task queued; each part timed inside the same transactions (timing whole transactions with and without
    it, alternated, drowned a millisecond in the COPY's own variation on this shared machine)."""
    measure = Measure("embedding_ingest", "13c. what queueing embedding adds to a transcription's completion")
    user = ctx.users[0]
    settings = Settings(db_pool_min=1, db_pool_max=1, db_slow_query_ms=600_000)
    with psycopg.connect(ctx.url, autocommit=True) as conn:
        made = [new_file(conn, user, "completion") for _ in range(size.completions)]
    segments = transcript(min(size.job_segments, 1_000), seed=7)
    copy: list[float] = []
    complete: list[float] = []
    queue: list[float] = []
    try:
        with Database(ctx.url, settings, application_name="opentr-bench", open=False) as db:
            db.open(wait=True)
            for file_id in made:
                with db.transaction() as conn:
                    began = time.perf_counter()
                    SegmentRepository(conn).replace_transcript(file_id, segments)
                    copied = time.perf_counter()
                    conn.execute("UPDATE media_files SET status = 'completed' WHERE id = %s", [file_id])
                    completed = time.perf_counter()
                    queue_embedding(conn, file_id)
                    queued = time.perf_counter()
                copy.append(copied - began)
                complete.append(completed - copied)
                queue.append(queued - completed)
    finally:
        delete_files(ctx.url, made)
    for step, samples in (
        (f"the transcript's COPY ({len(segments):,} segments; measure 4's path, unchanged)", copy),
        ("the file marked completed", complete),
        ("the embedding task queued (new)", queue),
    ):
        measure.rows.append({"step": step, "ms_median": ms(median(samples)), "runs": len(samples)})
    measure.extra = {"added_ms": ms(median(queue)), "copy_ms": ms(median(copy))}
    measure.notes.append(
        "queueing is one advisory lock, one indexed read of the file's pending task and one INSERT into tasks; the "
        "embedding itself runs later, in its own job on its own queue"
    )
    return measure
