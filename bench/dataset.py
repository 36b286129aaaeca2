"""The benchmark database and its dataset: N users x M files x K transcript segments, loaded with COPY.

`server()` yields the admin conninfo of the server named by DATABASE_URL, or of an embedded one started for the run;
`database()` creates a database on it from sql/init_db.sql and drops it afterwards; `generate()` fills it once per run
and every measure reuses it. Text is drawn from a Zipf-distributed vocabulary, so full-text queries meet the spread
of selectivities a real transcript collection has (a few words everywhere, most words rare).
"""

from __future__ import annotations

import itertools
import logging
import os
import random
import shutil
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from bench import BenchUser, Options
from credentials import tokens
from embedded import servers as embedded
from repo import schema
from transcript.segments import Segment, Word

log = logging.getLogger("opentr.bench")
Conn = psycopg.Connection[Any]

# Conversation filler first (most frequent), then the subjects people talk about; rank decides frequency (Zipf).
_WORDS = """
the i you and to a of that it we is so in this like yeah know just think what have they be on for but
was not do with are right about okay going can me there all one at get if my really people them here
would now out from how well very time as see because an more when want or back where then did something
say thing go mean good some things lot want those make could work need also over much other first had
project team week data customer meeting budget plan question point product release model user problem
quarter revenue sales numbers feature design review process market deadline support system report
change idea issue story example company today tomorrow month year call email document version schedule
client server database query index performance latency transcript audio video speaker interview
podcast episode lecture student research paper result analysis experiment training learning machine
network security privacy policy contract legal finance hiring manager engineer developer designer
launch roadmap priority milestone estimate risk dependency blocker feedback survey interview pricing
discount invoice payment shipping inventory warehouse supplier partner vendor license cloud storage
backup migration upgrade outage incident postmortem monitoring alert dashboard metric goal objective
strategy vision mission culture onboarding offsite workshop conference keynote panel demo prototype
mobile desktop browser website landing page campaign advertising brand social media content video
editor camera microphone recording studio guest host audience listener subscriber download stream
weather traffic coffee lunch dinner weekend holiday vacation family kids school travel flight hotel
doctor hospital health insurance election government economy inflation interest mortgage housing
climate energy solar battery electric vehicle transport city council community volunteer charity
football basketball tennis match season coach player score championship tournament stadium fans
science physics chemistry biology history literature philosophy music guitar piano concert album
kubernetes docker postgres python javascript rust golang terraform ansible jenkins github gitlab
transcription diarization whisper summarization embedding vector tokenizer benchmark throughput
"""
VOCABULARY = list(dict.fromkeys(_WORDS.split()))
SEARCH_QUERIES = (
    "budget",  # a common subject
    "quarterly revenue",  # two words, both must match
    '"action items"',  # a phrase (rare)
    "postgres performance",
    "kubernetes or docker",
    "meeting -budget",
    "customer feedback survey",
    "diarization",  # rare word
    "think",  # one of the most frequent content words
    "zebra unicorn",  # no match
)
TAGS = (
    "meeting", "interview", "podcast", "lecture", "sales", "engineering", "legal", "finance", "hiring", "support",
    "marketing", "research", "weekly", "all-hands", "customer", "product", "design", "ops", "security", "training",
)  # fmt: skip


def _zipf_weights(n: int, exponent: float = 1.0) -> list[float]:
    return [1.0 / (rank**exponent) for rank in range(1, n + 1)]


CUMULATIVE = list(itertools.accumulate(_zipf_weights(len(VOCABULARY))))
LOADERS = 2
NULL = r"\N"  # NULL in COPY's text format
NAMES = ("Alice", "Bob", "Carol", "Dan", NULL)


@contextmanager
def server() -> Iterator[str]:
    """Admin conninfo (database `postgres`): DATABASE_URL's server, else an embedded one for this run only."""
    external = os.environ.get("DATABASE_URL")
    if external:
        yield schema.with_database(external, "postgres")
        return
    home = Path(tempfile.mkdtemp(prefix="opentr-bench-pg-"))
    try:
        url = embedded.start_postgres(home / "data", database="postgres")
        yield schema.with_database(url, "postgres")
    finally:
        embedded.stop_all()
        shutil.rmtree(home, ignore_errors=True)


@contextmanager
def redis(home: Path) -> Iterator[str]:
    """REDIS_URL, else an embedded Redis (the web app wants one even though the measured routes do not use it)."""
    external = os.environ.get("REDIS_URL")
    if external:
        yield external
        return
    yield embedded.start_redis(home / "redis")


@contextmanager
def database(admin: str, keep: bool = False, reuse: str | None = None) -> Iterator[str]:
    """A new database built from sql/init_db.sql, dropped afterwards (unless `keep`, to profile it by hand)."""
    if reuse:
        yield schema.with_database(admin, reuse)
        return
    if keep:
        name = f"opentr_bench_kept_{int(time.time())}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = schema.with_database(admin, name)
        schema.build_from_init_sql(url)
        log.warning("keeping the benchmark database %s", name)
        yield url
        return
    with schema.temporary_database(admin, prefix="opentr_bench") as url:
        schema.build_from_init_sql(url)
        yield url


def sentence(rng: random.Random, low: int = 6, high: int = 24) -> list[str]:
    return rng.choices(VOCABULARY, cum_weights=CUMULATIVE, k=rng.randint(low, high))


def word_scores(words: list[str], rng: random.Random) -> list[float]:
    return [rng.uniform(0.6, 1.0) for _ in words]


def words_json(words: list[str], start: float, end: float, scores: list[float]) -> str:
    """WhisperX-style word timings, written by hand: faster than json.dumps and the vocabulary needs no escaping."""
    step = (end - start) / len(words)
    parts = []
    for i, (word, score) in enumerate(zip(words, scores, strict=True)):
        at = start + i * step
        parts.append(f'{{"word":"{word}","start":{at:.2f},"end":{at + step * 0.9:.2f},"score":{score:.3f}}}')
    return "[" + ",".join(parts) + "]"


def segment_texts(rng: random.Random, count: int) -> Iterator[tuple[float, float, str, list[str]]]:
    """(start, end, text, words) of `count` consecutive segments, 2 to 8 s each."""
    at = 0.0
    for _ in range(count):
        words = sentence(rng)
        length = rng.uniform(2.0, 8.0)
        text = " ".join(words).capitalize() + "."
        yield round(at, 2), round(at + length, 2), text, words
        at += length + rng.uniform(0.0, 1.0)


def _copy_text(conn: Conn, statement: str, lines: Iterator[str], chunk_rows: int = 2_000) -> int:
    """COPY in text format from already-escaped lines, written in large chunks."""
    count = 0
    with conn.cursor() as cur, cur.copy(statement) as copy:
        chunk: list[str] = []
        for line in lines:
            chunk.append(line)
            if len(chunk) >= chunk_rows:
                copy.write("".join(chunk))
                count += len(chunk)
                chunk = []
        if chunk:
            copy.write("".join(chunk))
            count += len(chunk)
    return count


def _load_segments(url: str, plan: list[tuple[int, int, list[int]]], words: bool, seed: int) -> int:
    """COPY the segments of the planned files (file id, segment count, speaker ids) in one transaction, then
    their word timings into segment_words under ids reserved first (the same seeded draws replayed, in the same
    order as before words had a table of their own, so the dataset is the same rows)."""

    def rows() -> Iterator[tuple[int, int | None, float, float, str, list[str], list[float]]]:
        rng = random.Random(seed)
        for file_id, count, voices in plan:
            speaker = rng.choice(voices) if voices else None
            for start, end, text, spoken in segment_texts(rng, count):
                if voices and rng.random() < 0.3:  # a change of speaker
                    speaker = rng.choice(voices)
                yield file_id, speaker, start, end, text, spoken, word_scores(spoken, rng) if words else []

    def word_lines(ids: list[int]) -> Iterator[str]:
        for segment_id, (_, _, start, end, _, spoken, scores) in zip(ids, rows(), strict=True):
            yield f"{segment_id}\t{words_json(spoken, start, end, scores)}\n"

    total = sum(count for _, count, _ in plan)
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        conn.execute("SET LOCAL synchronous_commit = off")
        ids = [
            row[0]
            for row in conn.execute(
                "SELECT nextval(pg_get_serial_sequence('transcript_segments', 'id')) FROM generate_series(1, %s)",
                [total],
            )
        ]
        copied = _copy_text(
            conn,
            "COPY transcript_segments (id, media_file_id, speaker_id, start_time, end_time, text) FROM STDIN",
            (
                f"{segment_id}\t{file_id}\t{NULL if speaker is None else speaker}\t{start}\t{end}\t{text}\n"
                for segment_id, (file_id, speaker, start, end, text, _, _) in zip(ids, rows(), strict=True)
            ),
        )
        if words:
            _copy_text(conn, "COPY segment_words (segment_id, words) FROM STDIN", word_lines(ids))
        return copied


def generate(url: str, options: Options, seed: int = 20240601, say: Any = print) -> tuple[list[BenchUser], float]:
    """Fill the database; returns the users (with a bearer token each) and the seconds it took."""
    rng = random.Random(seed)
    started = time.perf_counter()
    now = datetime.now(UTC)
    users: list[BenchUser] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET maintenance_work_mem = '256MB'")
        with conn.transaction():
            for i in range(options.users):
                row = conn.execute(
                    "INSERT INTO users (email, hashed_password, full_name) VALUES (%s, 'x', %s) RETURNING id",
                    [f"bench-user-{i}@example.com", f"Bench User {i}"],
                ).fetchone()
                assert row is not None
                token = tokens.new_token()
                conn.execute(
                    "INSERT INTO auth_tokens (user_id, token_hash, expires_at)"
                    " VALUES (%s, %s, now() + interval '2 days')",
                    [row[0], tokens.hash_token(token)],
                )
                users.append(BenchUser(row[0], f"bench-user-{i}@example.com", token, [], []))

        # files: round-robin over the users, newest first in id order would be unrealistic, so times are shuffled
        def file_lines() -> Iterator[str]:
            for j in range(options.files):
                owner = users[j % len(users)]
                uploaded = now - timedelta(seconds=rng.uniform(0, 365 * 86400))
                title = " ".join(sentence(rng, 2, 6)).title()
                language = rng.choice(("en", "en", "en", "de", "fr"))
                yield (
                    f"{owner.id}\trecording-{j:06d}.wav\t{owner.id}/bench-{j:06d}.wav\t{rng.randint(10**6, 10**9)}\t"
                    f"audio/wav\t{title}\t{language}\tcompleted\t1\t{uploaded.isoformat()}\t"
                    f"{(uploaded + timedelta(minutes=rng.randint(1, 90))).isoformat()}\n"
                )

        with conn.transaction():
            _copy_text(
                conn,
                "COPY media_files (user_id, filename, storage_path, file_size, content_type, title, language, status,"
                " progress, upload_time, completed_at) FROM STDIN",
                file_lines(),
            )
        files = conn.execute("SELECT id, uuid, user_id FROM media_files ORDER BY id").fetchall()
        by_user = {u.id: u for u in users}
        for file_id, file_uuid, user_id in files:
            by_user[user_id].file_ids.append(file_id)
            by_user[user_id].file_uuids.append(str(file_uuid))

        with conn.transaction():
            tag_ids = [
                r[0]
                for r in conn.execute(
                    "INSERT INTO tags (name) SELECT unnest(%s::text[]) RETURNING id", [list(TAGS)]
                ).fetchall()
            ]
            tag_lines = (
                f"{file_id}\t{tag_id}\n" for file_id, _, _ in files for tag_id in rng.sample(tag_ids, rng.randint(0, 3))
            )
            _copy_text(conn, "COPY file_tags (media_file_id, tag_id) FROM STDIN", tag_lines)
            speaker_lines = (
                f"{file_id}\t{user_id}\tSPEAKER_{k:02d}\t{rng.choice(NAMES)}\n"
                for file_id, _, user_id in files
                for k in range(rng.randint(2, 5))
            )
            _copy_text(conn, "COPY speakers (media_file_id, user_id, label, display_name) FROM STDIN", speaker_lines)
            comment_lines = (
                f"{file_id}\t{user_id}\t{' '.join(sentence(rng, 4, 20)).capitalize()}\t{rng.uniform(0, 3000):.1f}\n"
                for file_id, _, user_id in files
                for _ in range(rng.randint(0, 3))
            )
            _copy_text(conn, "COPY comments (media_file_id, user_id, text, timestamp) FROM STDIN", comment_lines)
            summary_lines = (
                f"{file_id}\t{user_id}\t1\tcompleted\t{' '.join(sentence(rng, 15, 40)).capitalize()}.\t"
                f"{' '.join(sentence(rng, 60, 120)).capitalize()}.\n"
                for file_id, _, user_id in files
                if rng.random() < 0.25
            )
            _copy_text(
                conn,
                "COPY file_summaries (media_file_id, user_id, version, status, bluf, brief_summary) FROM STDIN",
                summary_lines,
            )
        speakers: dict[int, list[int]] = {}
        for speaker_id, file_id in conn.execute("SELECT id, media_file_id FROM speakers ORDER BY id"):
            speakers.setdefault(file_id, []).append(speaker_id)

        say(f"dataset: {len(users)} users, {len(files)} files; copying {options.segments:,} segments")
        # Bulk-load path: build the segments' secondary indexes after the rows are in (one sort per index instead
        # of a million insertions), then put back exactly the definitions the schema has.
        indexes = conn.execute(
            "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE i.indrelid = 'transcript_segments'::regclass AND NOT i.indisprimary"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)"
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        per_file, extra = divmod(options.segments, max(1, len(files)))
        plan = [(file_id, per_file + (1 if i < extra else 0), speakers.get(file_id, [])) for i, (file_id, _, _) in
                enumerate(files)]  # fmt: skip
        # Two loaders: the server's per-row work (uuid, tsvector, jsonb, foreign keys) is the bottleneck, two cores.
        with ThreadPoolExecutor(LOADERS) as pool:
            copied = sum(pool.map(lambda k: _load_segments(url, plan[k::LOADERS], options.words, seed + k),
                                  range(LOADERS)))  # fmt: skip
        assert copied == options.segments, copied
        for _, definition in indexes:
            conn.execute(definition)
        conn.execute("UPDATE media_files f SET duration = (SELECT max(end_time) FROM transcript_segments s"
                     " WHERE s.media_file_id = f.id)")  # fmt: skip
        conn.execute("VACUUM (ANALYZE) ")
    return users, time.perf_counter() - started


def existing(url: str) -> list[BenchUser]:
    """The users of a dataset generated earlier (`--reuse-db`), each with a new bearer token."""
    users: list[BenchUser] = []
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        found = conn.execute("SELECT id, email FROM users WHERE email LIKE 'bench-user-%%' ORDER BY id").fetchall()
        for user_id, email in found:
            token = tokens.new_token()
            conn.execute(
                "INSERT INTO auth_tokens (user_id, token_hash, expires_at) VALUES (%s, %s, now() + interval '2 days')",
                [user_id, tokens.hash_token(token)],
            )
            files = conn.execute(
                "SELECT id, uuid FROM media_files WHERE user_id = %s AND filename LIKE 'recording-%%' ORDER BY id",
                [user_id],
            ).fetchall()
            users.append(BenchUser(user_id, email, token, [f[0] for f in files], [str(f[1]) for f in files]))
    if not users:
        raise SystemExit("--reuse-db: no benchmark users in that database")
    return users


def processing_files(url: str, user: BenchUser, count: int) -> list[tuple[int, str]]:
    """Put `count` of the user's files in `processing` under a job id each; (file_id, task_id) pairs."""
    pairs = [(file_id, f"bench-task-{file_id}") for file_id in user.file_ids[:count]]
    with psycopg.connect(url, autocommit=True) as conn:
        for file_id, task_id in pairs:
            conn.execute(
                "UPDATE media_files SET status = 'processing', active_task_id = %s, task_started_at = now()"
                " WHERE id = %s",
                [task_id, file_id],
            )
    return pairs


def new_file(conn: Conn, user: BenchUser, label: str) -> int:
    """An empty file for the ingest measures."""
    row = conn.execute(
        "INSERT INTO media_files (user_id, filename, storage_path, file_size, status)"
        " VALUES (%s, %s, %s, 1000, 'processing') RETURNING id",
        [user.id, f"{label}.wav", f"{user.id}/{label}-{time.monotonic_ns()}.wav"],
    ).fetchone()
    assert row is not None
    return int(row[0])


def delete_files(url: str, file_ids: list[int]) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM media_files WHERE id = ANY(%s)", [file_ids])


def counts(url: str) -> dict[str, int]:
    tables = ("users", "media_files", "speakers", "transcript_segments", "tags", "file_tags", "comments")
    with psycopg.connect(url, autocommit=True) as conn:
        found = {t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in tables}  # type: ignore[index]
        size = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        found["database_bytes"] = int(size[0]) if size else 0
    return found


def transcript(count: int, seed: int = 11, speakers: int = 4) -> list[Segment]:
    """A transcript as an engine hands it over: `count` segments with word timings and diarized speakers."""
    rng = random.Random(seed)
    out = []
    label = "SPEAKER_00"
    for start, end, text, words in segment_texts(rng, count):
        if rng.random() < 0.3:
            label = f"SPEAKER_{rng.randrange(speakers):02d}"
        step = (end - start) / len(words)
        timings = tuple(
            Word(w, round(start + i * step, 2), round(start + (i + 0.9) * step, 2), 0.9) for i, w in enumerate(words)
        )
        out.append(Segment(start, end, text, label, timings))
    return out
