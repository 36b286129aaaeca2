"""`opentr embeddings status` and `opentr embeddings rebuild`: only stale files are queued (missing, another model,
an older transcript; never twice), a real worker embeds them; and without pgvector the web and the worker start,
each saying once that search by meaning is off, search by words works and vectors are stored all the same."""

from __future__ import annotations

import logging
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from redis import Redis
from rq import Queue

from config.settings import Settings
from jobs import dispatch
from jobs.queues import EMBEDDINGS
from repo.passages import SEARCH_BY_MEANING_OFF, PassageRepository
from repo.rows import Actor
from repo.segments import SegmentRepository
from tests import factories
from tests.web import register
from tests.workers_support import WorkerEnv
from transcript.passages import Passage
from transcript.segments import Segment

TINY = "local/tiny-bert"
SEGMENTS = [
    Segment(0.0, 2.0, "会議の予算について 📊", "SPEAKER_00"),
    Segment(2.0, 4.0, "الميزانية والتكاليف", "SPEAKER_01"),
    Segment(4.0, 6.0, "Grüße an die Bürgermeisterin", "SPEAKER_00"),
]


@pytest.fixture
def workers(app_settings: Settings, without_vector_url: str, redis_url: str) -> Iterator[WorkerEnv]:
    Redis.from_url(redis_url).flushdb()
    yield WorkerEnv(without_vector_url, redis_url, app_settings.opentr_home)
    Redis.from_url(redis_url).flushdb()


def opentr(workers: WorkerEnv, model: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "opentr_cli", *args],
        env=workers.env(OPENTR_EMBEDDING_MODEL=str(model)),
        text=True,
        capture_output=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def transcribed(conn: psycopg.Connection[Any], owner: Actor, status: str = "completed") -> int:
    file_id, _ = factories.media_file(conn, owner, status=status)
    SegmentRepository(conn).replace_transcript(file_id, SEGMENTS)
    return file_id


def embedded(conn: psycopg.Connection[Any], owner: Actor, file_id: int, model: str = TINY) -> None:
    repo = PassageRepository(conn)
    version = repo.source(owner, file_id).version
    vector = [0.6, 0.8] + [0.0] * 62
    assert repo.replace(owner, file_id, model, version, [Passage(0, 0.0, 6.0, "ein Abschnitt")], [vector])


def pending(workers: WorkerEnv) -> dict[int, int]:
    rows = workers.query(
        "SELECT media_file_id, count(*) FROM tasks WHERE task_type = 'embedding' AND status = 'pending' "
        "GROUP BY media_file_id"
    )
    return {int(file_id): int(count) for file_id, count in rows}


def test_rebuild_queues_only_stale_files_and_a_worker_embeds_them_without_pgvector(
    workers: WorkerEnv, tiny_embedding_dir: Path
) -> None:
    with psycopg.connect(workers.conninfo, autocommit=True) as conn:
        owner = factories.user(conn)
        fresh = transcribed(conn, owner)
        embedded(conn, owner, fresh)
        missing = transcribed(conn, owner)
        other_model = transcribed(conn, owner)
        embedded(conn, owner, other_model, "intfloat/multilingual-e5-small")
        edited = transcribed(conn, owner)
        embedded(conn, owner, edited)
        conn.execute("UPDATE transcript_segments SET text = text || ' ✍️' WHERE media_file_id = %s", [edited])
        waiting = transcribed(conn, owner)
        with conn.transaction():
            assert dispatch.queue_embedding(conn, waiting) is not None
        transcribed(conn, owner, status="processing")  # its completion queues it: not stale yet
        factories.media_file(conn, owner, status="completed")  # no transcript: nothing to embed

    status = opentr(workers, tiny_embedding_dir, "embeddings", "status").stdout
    assert f"model: {TINY} (on this machine; {tiny_embedding_dir})" in status
    assert f"pgvector: no; {SEARCH_BY_MEANING_OFF}" in status
    assert f"passages of {TINY} (the configured model): 2 in 2 file(s), 64-d" in status
    assert "passages of intfloat/multilingual-e5-small: 1 in 1 file(s), 64-d" in status
    assert "stale files: 4 (another model 1, missing 2, older transcript 1)" in status

    rebuilt = opentr(workers, tiny_embedding_dir, "embeddings", "rebuild").stdout
    assert rebuilt.strip() == f"queued 3 file(s) to embed with {TINY}; 1 had a job waiting already"
    assert pending(workers) == {missing: 1, other_model: 1, edited: 1, waiting: 1}
    queued = set(Queue(EMBEDDINGS, connection=Redis.from_url(workers.redis_url)).get_job_ids())
    assert len(queued) == 3  # the fourth (waiting) was never enqueued here: the worker's dispatcher finds it

    done = workers.run_burst(timeout=180, OPENTR_EMBEDDING_MODEL=str(tiny_embedding_dir))
    assert done.returncode == 0, done.stderr[-3000:]

    assert done.stderr.count(SEARCH_BY_MEANING_OFF) == 1  # said once, at the worker's start
    assert pending(workers) == {}
    after = opentr(workers, tiny_embedding_dir, "embeddings", "status").stdout
    assert "stale files: 0" in after and f"passages of {TINY} (the configured model): 5 in 5 file(s), 64-d" in after
    # without pgvector the vectors are stored all the same (the fresh file's untouched), and no index was made
    made = workers.query("SELECT media_file_id, text FROM passages WHERE text <> 'ein Abschnitt'")
    assert {file_id for file_id, _ in made} == {missing, other_model, edited, waiting}
    assert dict(made)[missing] == " ".join(s.text for s in SEGMENTS)
    assert workers.query("SELECT count(*) FROM pg_indexes WHERE indexname LIKE 'passages_embedding_hnsw%%'") == [(0,)]


def test_without_pgvector_the_web_starts_says_so_once_and_search_by_words_works(
    without_vector_url: str, client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    headers = register(client, email := f"{secrets.token_hex(4)}@example.com")
    with psycopg.connect(without_vector_url, autocommit=True) as conn:
        [(owner,)] = conn.execute("SELECT id FROM users WHERE email = %s", [email]).fetchall()
        file_id, _ = factories.media_file(conn, Actor(owner), status="completed", filename="Besprechung.wav")
        SegmentRepository(conn).replace_transcript(file_id, [Segment(0.0, 2.0, "Haushaltsplanung für Köln 📊")])

    found = client.get("/api/search", params={"q": "Haushaltsplanung"}, headers=headers)

    assert found.status_code == 200, found.text
    assert [hit["filename"] for hit in found.json()] == ["Besprechung.wav"]
    started = caplog.get_records("setup") + caplog.records  # the app started with the client fixture
    said = [r for r in started if r.name == "opentr.web" and r.levelno == logging.WARNING]
    assert [r.getMessage() for r in said].count(SEARCH_BY_MEANING_OFF) == 1


def test_with_pgvector_the_status_says_search_by_meaning_is_on_and_rebuild_makes_a_missing_index(
    vector_url: str, redis_url: str, tmp_path: Path, tiny_embedding_dir: Path
) -> None:
    """Passages stored before pgvector was added (no index yet): a rebuild makes their dimension's index."""
    workers = WorkerEnv(vector_url, redis_url, tmp_path / "home")
    status = opentr(workers, tiny_embedding_dir, "embeddings", "status").stdout
    assert "pgvector: yes, search by meaning is on" in status
    assert "passages: none yet" in status and "stale files: 0" in status
    with psycopg.connect(vector_url, autocommit=True) as conn:
        owner = factories.user(conn)
        embedded(conn, owner, transcribed(conn, owner))
    index = "SELECT count(*) FROM pg_indexes WHERE indexname = 'passages_embedding_hnsw_64'"
    assert workers.query(index) == [(0,)]

    rebuilt = opentr(workers, tiny_embedding_dir, "embeddings", "rebuild").stdout

    assert rebuilt.splitlines() == [
        f"queued 0 file(s) to embed with {TINY}",
        "vector index (HNSW) ready for 64-d passages",
    ]
    assert workers.query(index) == [(1,)]
