"""Measure 14: search by meaning over the dataset's transcripts — the HNSW index, exact scans, and hybrid search.

The dataset's segments are cut into passages of `PER_PASSAGE` consecutive segments (1M segments: 200,000 passages)
and each passage gets a 384-d unit vector (the size of multilingual-e5-small's and all-MiniLM-L6-v2's). No model
runs here: embedding 200,000 passages on 2 cores would take hours, and latency and recall depend on the vectors'
geometry, not on their meaning. The geometry is made like a text embedding's, not uniform on the sphere (uniform
vectors are HNSW's worst case and nothing like text): 4,000 topics are points of a LATENT-dimensional space (text
embeddings have a low intrinsic dimension), a topic's passages spread around its point so that neighbouring topics
overlap, one fixed linear map takes them into 384-d, and every vector gets a shared direction (text embeddings are
anisotropic: unrelated passages still have a positive cosine) and a little isotropic noise. A file talks about a
few topics, and consecutive passages tend to stay on one. Queries are drawn the same way, fresh (not passages of
the dataset). (Tight, well-separated clusters were tried first: HNSW's graph fell apart into islands, recall@10
0.69 at ef_search 100 — a property of that data, not of text.)

The vectors go in with one binary COPY as the system (PostgreSQL refuses COPY FROM under row-level security), then
`repo.passages.ensure_vector_index` builds the HNSW index the application builds (its build time is reported;
`maintenance_work_mem` is raised for that session so the graph is built in memory).

Measured, k = 10, each query once per setting after a warm-up:
- the index shape of repo/passages.py in raw SQL (`ORDER BY embedding_vector::vector(384) <=> q LIMIT 10`
  under `vector_dims(embedding_vector) = 384`), for several `hnsw.ef_search`: p50/p95 and recall@10 against exact
  search on the same vectors (numpy over the very vectors stored; the SQL exact scan is checked against it);
- the exact scan in SQL over every passage (what the index saves);
- `repo.meaning.nearest_passages` acting for users (row-level security on): a user's own library (100 files of the
  default dataset) and the same user with every other file shared with them (bench/rls.py's arrangement: ~1,000
  files), in the plan nearest_passages chooses (and, for 20 queries, with the exact plan forced: what the index
  saves); recall against exact search over what that user may read;
- hybrid search (`repo.search`, mode "both": full text and vectors fused) p95 over the search measure's queries.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import struct
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg

from bench import BenchUser, Context, Measure, median, ms, percentile
from config.settings import Settings
from repo import passages as passages_repo
from repo.database import Database
from repo.rows import Actor

DIMENSIONS = 384
PER_PASSAGE = 5  # segments per passage: 1M segments -> 200,000 passages
MODEL = "bench/topic-mixture-384"  # what passages.model records for the generated vectors
K = 10
TARGET_MS = 50.0
TARGET_RECALL = 0.95
TARGET_HYBRID_MS = 75.0
EF_SEARCH_SWEEP = (40, 64, 100, 200, 400)
ALTERNATIVE_BUILDS = ((24, 128),)  # (m, ef_construction) rebuilt after the other measures, full runs only
TARGET_EF_SEARCH = 100  # the setting the targets are judged at (the trade-off is in the sweep's rows)
LATENT = 24  # the vectors' intrinsic dimension: they lie near a 24-d subspace of the 384-d space
WITHIN = 0.5  # a topic's spread around its centre in the latent space (the centres are spread 1.0): topics overlap
SHARED = 1.0  # weight of the direction every vector shares (anisotropy: unrelated passages have cosine ~0.45)
NOISE = 0.3  # isotropic noise per dimension (~25 % of the signal's norm)
STAY_ON_TOPIC = 0.7  # chance a passage keeps the previous passage's topic
TOPICS_PER_FILE = 3
SEED = 20240618
Floats = npt.NDArray[np.float32]
Ints = npt.NDArray[np.int64]


@dataclass
class Corpus:
    """The passages as stored: ids (passages.id), their files, and their unit vectors (row i is ids[i])."""

    ids: Ints
    files: Ints
    vectors: Floats


@dataclass(frozen=True)
class Space:
    """Where the vectors come from: topic centres in a LATENT-dimensional space, one fixed linear map into the
    384-d space, and the direction every vector shares."""

    centres: Floats  # (topics, LATENT)
    projection: Floats  # (LATENT, DIMENSIONS)
    shared: Floats  # (DIMENSIONS,) unit

    @classmethod
    def seeded(cls, seed: int, topics: int) -> Space:
        rng = np.random.default_rng(seed)
        return cls(
            rng.standard_normal((topics, LATENT)).astype(np.float32),
            (rng.standard_normal((LATENT, DIMENSIONS)) / np.sqrt(LATENT)).astype(np.float32),
            _unit(rng.standard_normal(DIMENSIONS)),
        )

    def draw(self, topics: Ints, rng: np.random.Generator) -> Floats:
        """A unit vector near each of `topics`."""
        n = len(topics)
        latent = self.centres[topics] + WITHIN * rng.standard_normal((n, LATENT)).astype(np.float32)
        noise = NOISE * rng.standard_normal((n, DIMENSIONS)).astype(np.float32)
        return _unit(latent @ self.projection + SHARED * np.sqrt(DIMENSIONS) * self.shared + noise)


def topic_mixture(
    count: int, files: Ints, space: Space, rng: np.random.Generator, chunk: int = 20_000
) -> Iterator[Floats]:
    """Unit vectors of `count` passages whose files are `files` (sorted by file, in passage order), in chunks: a
    file talks about TOPICS_PER_FILE topics, and consecutive passages tend to stay on one."""
    topics = len(space.centres)
    file_topics: dict[int, Ints] = {}
    chosen = np.empty(count, np.int64)
    previous_file, topic = -1, 0
    for i, file_id in enumerate(files.tolist()):
        own = file_topics.get(file_id)
        if own is None:
            own = file_topics[file_id] = rng.choice(topics, TOPICS_PER_FILE, replace=False)
        if file_id != previous_file or rng.random() > STAY_ON_TOPIC:
            topic = int(rng.choice(own))
        chosen[i], previous_file = topic, file_id
    for start in range(0, count, chunk):
        yield space.draw(chosen[start : start + chunk], rng)


def _unit(x: npt.NDArray[Any]) -> Floats:
    x = np.asarray(x, np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    unit: Floats = (x / np.maximum(norms, 1e-12)).astype(np.float32)
    return unit


# --- loading ----------------------------------------------------------------------------------------------------


_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
_TRAILER = struct.pack("!h", -1)
_REAL_OID = 700


def _array_header(n: int) -> bytes:
    """real[] in COPY's binary form: ndim 1, no nulls, element type real, n elements from index 1."""
    return struct.pack("!iiiii", 1, 0, _REAL_OID, n, 1)


def _binary_row(
    file_id: int, position: int, start: float, end: float, text: bytes, model: bytes, version: int, array: bytes
) -> bytes:
    return b"".join(
        (
            struct.pack("!hiqiiidid", 8, 8, file_id, 4, position, 8, start, 8, end),
            struct.pack("!i", len(text)),
            text,
            struct.pack("!i", len(model)),
            model,
            struct.pack("!iq", 8, version),
            struct.pack("!i", len(array)),
            array,
        )
    )


def load(url: str, options_seed: int, say: Callable[[str], None]) -> tuple[Corpus, Space, float]:
    """Cut the segments into passages, give each a vector, COPY them in; (corpus, the vectors' space, seconds)."""
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        segments = conn.execute(
            "SELECT media_file_id, start_time, end_time, text FROM transcript_segments"
            " ORDER BY media_file_id, start_time, id"
        ).fetchall()
        versions: dict[int, int] = dict(
            conn.execute(
                "SELECT media_file_id, max(version) FROM transcript_versions GROUP BY media_file_id"
            ).fetchall()
        )
    passages: list[tuple[int, int, float, float, str]] = []
    i = 0
    while i < len(segments):
        file_id = segments[i][0]
        j = i
        while j < len(segments) and segments[j][0] == file_id:
            j += 1
        for position, at in enumerate(range(i, j, PER_PASSAGE)):
            group = segments[at : min(at + PER_PASSAGE, j)]
            passages.append((file_id, position, group[0][1], group[-1][2], " ".join(s[3] for s in group)))
        i = j
    count = len(passages)
    topics = max(8, min(4_000, count // 50))
    files = np.fromiter((p[0] for p in passages), np.int64, count)
    say(f"vectors: {count:,} passages over {len(set(files.tolist())):,} files, {topics:,} topics; copying")
    rng = np.random.default_rng(options_seed)
    space = Space.seeded(options_seed, topics)
    vectors = np.empty((count, DIMENSIONS), np.float32)
    element = np.dtype([("length", ">i4"), ("value", ">f4")])
    header = _array_header(DIMENSIONS)
    model = MODEL.encode()
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        conn.execute("SET LOCAL synchronous_commit = off")
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY passages (media_file_id, position, start_time, end_time, text, model, transcript_version,"
                " embedding) FROM STDIN (FORMAT BINARY)"
            ) as copy,
        ):
            copy.write(_SIGNATURE)
            at = 0
            for block in topic_mixture(count, files, space, rng):
                vectors[at : at + len(block)] = block
                packed = np.empty(block.shape, element)
                packed["length"] = 4
                packed["value"] = block
                rows = []
                for offset in range(len(block)):
                    file_id, position, start, end, text = passages[at + offset]
                    rows.append(
                        _binary_row(
                            file_id,
                            position,
                            start,
                            end,
                            text.encode(),
                            model,
                            int(versions.get(file_id, 0)),
                            header + packed[offset].tobytes(),
                        )
                    )
                copy.write(b"".join(rows))
                at += len(block)
            copy.write(_TRAILER)
        found = conn.execute("SELECT id, media_file_id, position FROM passages ORDER BY media_file_id, position")
        keyed = found.fetchall()
    assert len(keyed) == count, (len(keyed), count)
    ids = np.fromiter((row[0] for row in keyed), np.int64, count)
    return Corpus(ids, files, vectors), space, time.perf_counter() - started


def build_index(url: str) -> float:
    """The application's HNSW index (repo/passages.py), built in memory; seconds."""
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        with conn.transaction():
            conn.execute("SET LOCAL maintenance_work_mem = '2GB'")
            conn.execute("SET LOCAL max_parallel_maintenance_workers = 1")  # two processes: the 2 cores
            assert passages_repo.ensure_vector_index(conn, DIMENSIONS), "no pgvector in the benchmark database"
        conn.execute("VACUUM (ANALYZE) passages")
    return time.perf_counter() - started


def rebuild_index(url: str, m: int, ef_construction: int) -> float:
    """The same index rebuilt with other graph parameters (same name, so queries use it as they would); seconds."""
    name = passages_repo.index_name(DIMENSIONS)
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP INDEX {name}")
        conn.execute("SET maintenance_work_mem = '2GB'")
        conn.execute("SET max_parallel_maintenance_workers = 1")
        conn.execute(
            f"CREATE INDEX {name} ON passages USING hnsw ((embedding_vector::vector({DIMENSIONS})) vector_cosine_ops)"
            f" WITH (m = {int(m)}, ef_construction = {int(ef_construction)})"
            f" WHERE vector_dims(embedding_vector) = {DIMENSIONS}"
        )
    return time.perf_counter() - started


# --- measuring --------------------------------------------------------------------------------------------------


def exact_top(corpus: Corpus, query: Floats, allowed: npt.NDArray[np.bool_] | None = None) -> set[int]:
    """The ids of the K passages nearest `query` (cosine: the vectors are unit), among `allowed` rows if given."""
    scores = corpus.vectors @ query
    if allowed is not None:
        scores = np.where(allowed, scores, -np.inf)
    best = np.argpartition(-scores, K)[:K]
    return {int(corpus.ids[i]) for i in best}


def literal(vector: Floats) -> str:
    return "[" + ",".join(f"{float(x):.7g}" for x in vector) + "]"


INDEXED_SQL = (
    f"SELECT p.id FROM passages p WHERE vector_dims(p.embedding_vector) = {DIMENSIONS}"
    f" ORDER BY p.embedding_vector::vector({DIMENSIONS}) <=> %(q)s::vector({DIMENSIONS}) LIMIT {K}"
)


def raw_search(conn: psycopg.Connection[Any], query: str, ef_search: int | None) -> tuple[list[int], float]:
    """One search in the index shape, in its own transaction; (ids, seconds). ef_search None: the exact scan."""
    started = time.perf_counter()
    with conn.transaction():
        if ef_search is None:
            conn.execute("SET LOCAL enable_indexscan = off")
        else:
            conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", [str(ef_search)])
        # The exact scan is never prepared: a plan cached by the indexed runs (the same text) would ignore the setting
        ids = [int(row[0]) for row in conn.execute(INDEXED_SQL, {"q": query}, prepare=None if ef_search else False)]
    return ids, time.perf_counter() - started


def recall(found: list[int], truth: set[int]) -> float:
    return len(truth.intersection(found)) / len(truth) if truth else 1.0


def run(ctx: Context) -> Measure:
    measure = Measure("vectors", "14. search by meaning: HNSW vs exact, nearest_passages, hybrid search")
    with _vector_database(ctx) as (url, users):
        _measure(ctx, measure, url, users)
    return measure


def _measure(ctx: Context, measure: Measure, url: str, users: list[BenchUser]) -> None:
    say = _say
    smoke = ctx.options.smoke
    corpus, space, load_seconds = load(url, SEED, say)
    say(f"vectors: {len(corpus.ids):,} passages in {load_seconds:.1f} s; building the HNSW index")
    index_seconds = build_index(url)
    say(f"vectors: HNSW index built in {index_seconds:.1f} s")
    with psycopg.connect(url, autocommit=True) as conn:
        size = conn.execute(
            "SELECT pg_relation_size(%s::regclass), pg_total_relation_size('passages'),"
            " pg_relation_size('passages'), coalesce(pg_relation_size(nullif(c.reltoastrelid, 0)), 0)"
            " FROM pg_class c WHERE c.oid = 'passages'::regclass",
            [passages_repo.index_name(DIMENSIONS)],
        ).fetchone()
    assert size is not None
    measure.extra["dataset"] = {
        "passages": len(corpus.ids),
        "segments_per_passage": PER_PASSAGE,
        "dimensions": DIMENSIONS,
        "topics": len(space.centres),
        "latent_dimensions": LATENT,
        "load_seconds": round(load_seconds, 1),
        "index_build_seconds": round(index_seconds, 1),
        "index_bytes": int(size[0]),
        "table_bytes_with_indexes": int(size[1]),
        "heap_bytes": int(size[2]),
        "toast_bytes": int(size[3]),  # vectors stored out of line: read through TOAST by every exact scan
        "geometry": _geometry(corpus, np.random.default_rng(5)),
    }
    count = 20 if smoke else 200
    rng = np.random.default_rng(77)
    queries = space.draw(rng.integers(0, len(space.centres), count), rng)  # fresh draws, not stored passages
    texts = [literal(q) for q in queries]
    truths = [exact_top(corpus, q) for q in queries]

    # 1. the index shape in raw SQL, for several ef_search; the exact scan for a subset of the queries
    sweep = (40,) if smoke else EF_SEARCH_SWEEP
    judged = TARGET_EF_SEARCH if TARGET_EF_SEARCH in sweep else sweep[-1]
    p95, mean_recall = 0.0, 0.0
    with psycopg.connect(url, autocommit=True) as conn:
        for text in texts[:10]:  # warm-up: the index and the table into the cache
            raw_search(conn, text, judged)
        measure.extra["plan_indexed"] = _explain(conn, texts[0], judged)
        for ef in sweep:
            samples, recalls = [], []
            for text, truth in zip(texts, truths, strict=True):
                ids, seconds = raw_search(conn, text, ef)
                samples.append(seconds)
                recalls.append(recall(ids, truth))
            _row(measure, f"HNSW, raw SQL, hnsw.ef_search = {ef}", "every passage (system)", samples, recalls)
            if ef == judged:
                p95, mean_recall = percentile(samples, 95) * 1000, float(np.mean(recalls))
        exact_samples, exact_recalls = [], []
        for text, truth in list(zip(texts, truths, strict=True))[: 5 if smoke else 20]:
            ids, seconds = raw_search(conn, text, None)
            exact_samples.append(seconds)
            exact_recalls.append(recall(ids, truth))
        _row(measure, "exact scan, raw SQL (index off)", "every passage (system)", exact_samples, exact_recalls)
        measure.extra["plan_exact"] = _explain(conn, texts[0], None)
    _latency(measure, f"vectors: HNSW p95 (ef_search {judged}, every passage)", p95, TARGET_MS)
    _recall(measure, f"vectors: HNSW recall@10 (ef_search {judged})", mean_recall)

    # 2. through repo/meaning.py, acting for users
    _through_meaning(ctx, measure, url, users, corpus, queries)

    # 3. the trade-off of the build: the graph rebuilt with more neighbours (repo/passages.py keeps pgvector's
    # defaults, m 16 / ef_construction 64); last, since the other measures use the application's index
    builds = measure.extra.setdefault("builds", [{"m": 16, "ef_construction": 64, "seconds": round(index_seconds, 1)}])
    for m, ef_construction in () if smoke else ALTERNATIVE_BUILDS:
        seconds = rebuild_index(url, m, ef_construction)
        builds.append({"m": m, "ef_construction": ef_construction, "seconds": round(seconds, 1)})
        say(f"vectors: HNSW index m={m}, ef_construction={ef_construction} rebuilt in {seconds:.1f} s")
        with psycopg.connect(url, autocommit=True) as conn:
            for text in texts[:10]:
                raw_search(conn, text, 100)
            for ef in (40, 100):
                samples, recalls = [], []
                for text, truth in zip(texts, truths, strict=True):
                    ids, took = raw_search(conn, text, ef)
                    samples.append(took)
                    recalls.append(recall(ids, truth))
                label = f"HNSW m = {m}, ef_construction = {ef_construction}, ef_search = {ef}"
                _row(measure, label, "every passage (system)", samples, recalls)


def _through_meaning(
    ctx: Context,
    measure: Measure,
    url: str,
    users: list[BenchUser],
    corpus: Corpus,
    queries: Floats,
) -> None:
    from bench.rls import share_with, unshare
    from repo import meaning

    reader, others = users[0], users[1:]
    settings = Settings(db_pool_min=1, db_pool_max=1, db_slow_query_ms=600_000)
    own = np.isin(corpus.files, np.asarray(reader.file_ids, np.int64))
    with Database(url, settings, application_name="opentr-bench", open=False) as db:
        db.open(wait=True)

        def nearest(query: Floats) -> list[int]:
            with db.acting(reader.actor), db.transaction() as conn:
                hits = meaning.nearest_passages(conn, reader.actor, query.tolist(), k=K, model=MODEL)
            return [hit.passage_id for hit in hits]

        def measured(label: str, allowed: npt.NDArray[np.bool_], reach: str, count: int = 0) -> tuple[float, float]:
            for query in queries[:3]:
                nearest(query)
            samples, recalls = [], []
            for query in queries[: count or len(queries)]:
                started = time.perf_counter()
                ids = nearest(query)
                samples.append(time.perf_counter() - started)
                recalls.append(recall(ids, exact_top(corpus, query, allowed)))
            _row(measure, label, reach, samples, recalls)
            return percentile(samples, 95) * 1000, float(np.mean(recalls))

        def chosen_plan() -> str:
            with db.acting(reader.actor), db.transaction() as conn:
                scope = {"file_id": None, "collection_id": None, **_scope(reader.actor)}
                return meaning.plan(conn, scope, K)[0]

        repeats = 2 if ctx.options.smoke else 20
        visible = f"own library: {int(own.sum()):,} passages, {len(reader.file_ids):,} files"
        p95_own, recall_own = measured(f"nearest_passages ({chosen_plan()} plan)", own, visible)
        hybrid_own = _hybrid(measure, db, reader, queries, visible, repeats)
        share_with(url, reader, others)
        try:
            shared_files = len(reader.file_ids) + sum(len(o.file_ids) for o in others)
            everything = np.ones(len(corpus.ids), bool)
            reach = f"own + shared: {len(corpus.ids):,} passages, {shared_files:,} files"
            p95_shared, recall_shared = measured(f"nearest_passages ({chosen_plan()} plan)", everything, reach)
            chooses = meaning.plan
            meaning.plan = lambda conn, scope, k: ("exact", 0)  # what the index saves this reader
            try:
                p95_forced, recall_forced = measured("nearest_passages (exact plan forced)", everything, reach, 20)
            finally:
                meaning.plan = chooses
            hybrid_shared = _hybrid(measure, db, reader, queries, reach, repeats)
        finally:
            unshare(url, reader)
    _latency(measure, "vectors: nearest_passages p95, own library", p95_own, TARGET_MS)
    _recall(measure, "vectors: nearest_passages recall@10, own library", recall_own)
    _latency(measure, "vectors: nearest_passages p95, ~1,000 files shared", p95_shared, TARGET_MS)
    _recall(measure, "vectors: nearest_passages recall@10, ~1,000 files shared", recall_shared)
    measure.extra["forced_exact_shared"] = {"p95_ms": round(p95_forced, 2), "recall": round(recall_forced, 4)}
    _latency(measure, "vectors: hybrid search p95, own library", hybrid_own, TARGET_HYBRID_MS)
    _latency(measure, "vectors: hybrid search p95, ~1,000 files shared", hybrid_shared, TARGET_HYBRID_MS)


def _hybrid(measure: Measure, db: Database, reader: BenchUser, queries: Floats, reach: str, repeats: int) -> float:
    """p95 of SearchRepository.search in mode "both" (and "meaning", for comparison) acting for the reader: the
    search measure's queries, each with a query vector of the same topics; the p95 of mode both."""
    from bench.dataset import SEARCH_QUERIES
    from repo.search import MeaningQuery, SearchRepository

    def search(q: str, vector: Floats, mode: Any) -> None:
        with db.acting(reader.actor), db.transaction() as conn:
            SearchRepository(conn).search(reader.actor, q, mode=mode, meaning=MeaningQuery(vector.tolist(), MODEL))

    pairs = [(q, queries[i % len(queries)]) for i, q in enumerate(SEARCH_QUERIES)]
    p95_both = 0.0
    for mode in ("both", "meaning", "words"):  # words alone: what the fusion adds to it
        for q, vector in pairs[:3]:  # warm-up
            search(q, vector, mode)
        samples = []
        for _ in range(repeats):
            for q, vector in pairs:
                started = time.perf_counter()
                search(q, vector, mode)
                samples.append(time.perf_counter() - started)
        _row(measure, f"SearchRepository.search, mode {mode} (20 files, 5 hits)", reach, samples, [])
        if mode == "both":
            p95_both = percentile(samples, 95) * 1000
    return p95_both


def _latency(measure: Measure, name: str, p95_ms: float, goal_ms: float) -> None:
    measure.target(name, f"< {goal_ms:g} ms", round(p95_ms, 2), p95_ms < goal_ms, "ms")


def _recall(measure: Measure, name: str, value: float) -> None:
    measure.target(name, f">= {TARGET_RECALL:g}", round(value, 4), value >= TARGET_RECALL)


def _scope(actor: Actor) -> dict[str, object]:
    from repo.library import LibraryFilter

    return {**LibraryFilter().params(), **actor.scope()}


def _row(measure: Measure, name: str, reach: str, samples: list[float], recalls: list[float]) -> None:
    measure.rows.append(
        {
            "search": name,
            "over": reach,
            "p50_ms": ms(median(samples)),
            "p95_ms": ms(percentile(samples, 95)),
            "max_ms": ms(max(samples)),
            "recall_at_10": round(float(np.mean(recalls)), 4) if recalls else None,
            "min_recall": round(float(np.min(recalls)), 2) if recalls else None,
            "queries": len(samples),
        }
    )


def _explain(conn: psycopg.Connection[Any], query: str, ef_search: int | None) -> list[str]:
    with conn.transaction():
        if ef_search is None:
            conn.execute("SET LOCAL enable_indexscan = off")
        else:
            conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", [str(ef_search)])
        rows = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + INDEXED_SQL, {"q": query}).fetchall()
    return [_VECTOR.sub(f"'[{DIMENSIONS} values]'", str(row[0])) for row in rows]


_VECTOR = re.compile(r"'\[[-0-9.e,]*\]'")


def _geometry(corpus: Corpus, rng: np.random.Generator) -> dict[str, float]:
    """How the generated vectors sit: cosine of random pairs, and of each sampled passage's nearest neighbour."""
    n = len(corpus.ids)
    sample = rng.choice(n, min(200, n), replace=False)
    pairs = rng.choice(n, (2000, 2))
    random_cos = np.einsum("nd,nd->n", corpus.vectors[pairs[:, 0]], corpus.vectors[pairs[:, 1]])
    scores = corpus.vectors[sample] @ corpus.vectors.T
    scores[np.arange(len(sample)), sample] = -np.inf
    top = np.sort(scores, axis=1)[:, -K:]
    return {
        "random_pair_cosine_mean": round(float(random_cos.mean()), 3),
        "nearest_neighbour_cosine_mean": round(float(top[:, -1].mean()), 3),
        "tenth_neighbour_cosine_mean": round(float(top[:, 0].mean()), 3),
    }


@contextlib.contextmanager
def _vector_database(ctx: Context) -> Iterator[tuple[str, list[BenchUser]]]:
    """The benchmark database when its server has pgvector; else the same dataset generated on an embedded server
    (which ships pgvector) for this measure, removed afterwards."""
    with psycopg.connect(ctx.url, autocommit=True) as conn:
        row = conn.execute("SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'vector')").fetchone()
    if row and row[0]:
        try:
            yield ctx.url, ctx.users
        finally:
            with psycopg.connect(ctx.url, autocommit=True) as conn:  # later measures see the dataset as generated
                conn.execute("TRUNCATE passages")
                conn.execute(f"DROP INDEX IF EXISTS {passages_repo.index_name(DIMENSIONS)}")
        return
    from bench import dataset
    from embedded import servers as embedded
    from repo import schema

    _say("vectors: the benchmark server has no pgvector; generating the dataset again on an embedded server")
    home = Path(tempfile.mkdtemp(prefix="opentr-bench-pgvector-"))
    try:
        admin = schema.with_database(embedded.start_postgres(home / "data", database="postgres"), "postgres")
        with dataset.database(admin) as url:
            users, _ = dataset.generate(url, ctx.options, say=_say)
            yield url, users
    finally:
        embedded.stop_all()  # vectors runs after every measure that uses the embedded servers of the run
        shutil.rmtree(home, ignore_errors=True)


def _say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
