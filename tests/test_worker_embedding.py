"""The `embedding` job through a real `opentr worker --burst` (and once in-process, to see whom it acts for): a
completed transcription queues it, the tiny model embeds the transcript's passages, an edit through the API queues
one more (never two pending) and the passages are replaced; without the model the task fails with the one line
naming `opentr models pull embedding` and nothing else changes; a dead run is queued again, a bounded number of
times."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from redis import Redis
from rq import Queue
from rq.registry import FailedJobRegistry

from config.settings import Settings
from jobs import dispatch
from jobs.embeddings import EMBEDDING, MAX_DEAD_RUNS
from jobs.queues import EMBEDDINGS
from jobs.registry import DEAD_OWNER, DeadJob, Outcome
from repo.database import Database
from repo.passages import PassageRepository
from repo.rows import Actor
from repo.segments import SegmentRepository
from storage.backend import open_storage
from tests import factories
from tests.web import register
from tests.workers_support import WorkerEnv, srt, wav
from transcript.passages import Passage
from transcript.segments import Segment
from workers import embed_job, jobrun
from workers.context import JobContext
from workers.liveness import open_lock_session
from workers.recovery import recover

# Twelve 3-second cues of about ten words in several scripts: two or three passages.
LINES = [
    "Guten Morgen, wir sprechen heute über das Budget für nächstes Jahr",
    "会議を始めましょう、今日は来年の予算について話します 📊",
    "مرحبا بالجميع، سنتحدث اليوم عن الميزانية والتكاليف القادمة",
    "the costs of the office move are higher than we planned",
    "Die Straße vor dem Büro wird im Frühling erneuert, sagt Jürgen",
    "we need a decision about the customer project before friday",
    "ありがとうございます、次の議題に移りましょう 🙏",
    "the team wants more time for the review of the report",
    "Übermorgen schicken wir den Bericht an alle Kunden 📬",
    "شكرا لكم، نلتقي الأسبوع القادم في نفس الوقت",
    "please send the summary of this meeting to everyone today",
    "Tschüss und bis bald, schönes Wochenende allerseits 👋",
]
EDITS = [
    "Änderung: wir reden heute über 予算 und التكاليف für das nächste Jahr 🎯",
    "zweite Änderung ✍️ mit genug Wörtern, damit der Abschnitt gleich bleibt",
]
CUES = [(i * 3.0, i * 3.0 + 2.8, f"SPEAKER_0{i // 3 % 2}", text) for i, text in enumerate(LINES)]


@pytest.fixture
def workers(app_settings: Settings, fresh_url: str, redis_url: str) -> Iterator[WorkerEnv]:
    Redis.from_url(redis_url).flushdb()  # only this test's jobs for the burst worker to find
    yield WorkerEnv(fresh_url, redis_url, app_settings.opentr_home)
    Redis.from_url(redis_url).flushdb()


def burst(workers: WorkerEnv, model: Path | str) -> str:
    done = workers.run_burst(timeout=180, OPENTR_EMBEDDING_MODEL=str(model))
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stderr


def user_id(workers: WorkerEnv, email: str) -> int:
    [(found,)] = workers.query("SELECT id FROM users WHERE email = %s", email)
    return int(found)


def tasks(workers: WorkerEnv, file_id: int) -> list[tuple[str, str, str | None]]:
    rows = workers.query(
        "SELECT task_type, status, error_message FROM tasks WHERE media_file_id = %s ORDER BY created_at, id", file_id
    )
    return [(kind, status, message) for kind, status, message in rows]


def passages(workers: WorkerEnv, file_id: int) -> list[tuple[Any, ...]]:
    return workers.query(
        "SELECT id, position, start_time, end_time, text, model, transcript_version, embedding FROM passages "
        "WHERE media_file_id = %s ORDER BY position",
        file_id,
    )


def version(workers: WorkerEnv, file_id: int) -> int:
    [(found,)] = workers.query("SELECT version FROM transcript_versions WHERE media_file_id = %s", file_id)
    return int(found)


def test_a_completed_transcription_is_embedded_and_an_edit_replaces_its_passages(
    client: Any, workers: WorkerEnv, tiny_embedding_dir: Path
) -> None:
    email = f"{secrets.token_hex(4)}@example.com"
    headers = register(client, email)
    owner = Actor(user_id(workers, email))
    arranged = workers.arrange(wav(40.0), srt(CUES), owner=owner)

    burst(workers, tiny_embedding_dir)

    assert workers.query("SELECT status FROM media_files WHERE id = %s", arranged.file_id) == [("completed",)]
    assert tasks(workers, arranged.file_id) == [("transcription", "completed", None), ("embedding", "completed", None)]
    first = passages(workers, arranged.file_id)
    assert len(first) >= 2
    assert {(row[5], row[6]) for row in first} == {("local/tiny-bert", version(workers, arranged.file_id))}
    joined = " ".join(row[4] for row in first)
    assert all(line in joined for line in LINES)  # every script, exactly
    vectors = np.asarray([row[7] for row in first], dtype=np.float32)
    assert vectors.shape == (len(first), 64)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)

    # Two edits through the API: one embedding task waits for both. Each keeps about its segment's length, so the
    # passages are cut at the same speaker turns as before.
    file_uuid = workers.query("SELECT uuid FROM media_files WHERE id = %s", arranged.file_id)[0][0]
    segments = client.get(f"/api/files/{file_uuid}/transcript", headers=headers).json()
    for index, text in enumerate(EDITS):
        edited = client.put(
            f"/api/files/{file_uuid}/transcript/segments/{segments[index]['uuid']}",
            headers=headers,
            json={"text": text},
        )
        assert edited.status_code == 200, edited.text
    assert tasks(workers, arranged.file_id)[2:] == [("embedding", "pending", None)]

    burst(workers, tiny_embedding_dir)

    assert [status for kind, status, _ in tasks(workers, arranged.file_id) if kind == "embedding"] == ["completed"] * 2
    second = passages(workers, arranged.file_id)
    assert {(row[5], row[6]) for row in second} == {("local/tiny-bert", version(workers, arranged.file_id))}
    texts = " ".join(row[4] for row in second)
    assert EDITS[0] in texts and EDITS[1] in texts
    assert LINES[0] not in texts and LINES[1] not in texts
    assert {row[0] for row in first}.isdisjoint(row[0] for row in second)  # every row replaced
    assert second[0][7] != first[0][7]  # the edited passage has a new vector
    assert (second[-1][4], second[-1][7]) == (first[-1][4], first[-1][7])  # an unchanged one keeps its vector


def test_without_the_model_the_task_fails_in_one_line_and_nothing_else_changes(
    workers: WorkerEnv, tmp_path: Path, tiny_embedding_dir: Path
) -> None:
    absent = tmp_path / "no-such-model"
    arranged = workers.arrange(wav(40.0), srt(CUES))

    burst(workers, absent)

    assert workers.query("SELECT status FROM media_files WHERE id = %s", arranged.file_id) == [("completed",)]
    [transcription, (kind, status, message)] = tasks(workers, arranged.file_id)
    assert transcription == ("transcription", "completed", None) and (kind, status) == ("embedding", "failed")
    assert message is not None and "\n" not in message
    assert "opentr models pull embedding" in message and str(absent) in message
    assert passages(workers, arranged.file_id) == []
    assert FailedJobRegistry(queue=Queue(EMBEDDINGS, connection=Redis.from_url(workers.redis_url))).count == 0
    notified = workers.query("SELECT title FROM notifications WHERE media_file_id = %s", arranged.file_id)
    assert notified == [("talk.wav: transcript ready",)]  # the failure tells nobody: search by meaning waits

    # A file with passages keeps them, row for row, when the model is missing at its next embedding.
    burst_queued = _queue(workers, arranged.file_id)
    with psycopg.connect(workers.conninfo, autocommit=True) as conn:
        repo = PassageRepository(conn)
        old = [Passage(0, 0.0, 3.0, "alte Passage 古い")]
        assert repo.replace(arranged.owner, arranged.file_id, "local/tiny-bert", 0, old, [[1.0, 0.0]])
    before = passages(workers, arranged.file_id)

    burst(workers, absent)

    assert passages(workers, arranged.file_id) == before
    assert workers.query("SELECT status FROM tasks WHERE id = %s", burst_queued) == [("failed",)]
    assert workers.query("SELECT status FROM media_files WHERE id = %s", arranged.file_id) == [("completed",)]

    # With the model back, the next run replaces them.
    _queue(workers, arranged.file_id)
    burst(workers, tiny_embedding_dir)
    assert "alte Passage 古い" not in [row[4] for row in passages(workers, arranged.file_id)]


def _queue(workers: WorkerEnv, file_id: int) -> str:
    with psycopg.connect(workers.conninfo, autocommit=True) as conn, conn.transaction():
        queued = dispatch.queue_embedding(conn, file_id)
    assert queued is not None and dispatch.enqueue_embedding(Redis.from_url(workers.redis_url), queued)
    return queued.task_id


def test_the_job_reads_and_writes_as_the_files_owner(
    db: Database, settings: Settings, fresh_url: str, tiny_embedding_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An editor's change queues the task in the owner's name; the job's transactions act for the owner (row-level
    security on), whoever queued it."""
    with db.acting_as_system(), db.transaction() as conn:
        owner, editor = factories.user(conn), factories.user(conn)
        file_id, _ = factories.media_file(conn, owner, status="completed")
        SegmentRepository(conn).replace_transcript(file_id, [Segment(a, b, t, who) for a, b, who, t in CUES])
        other, _ = factories.media_file(conn, editor, status="completed")  # the editor's own: never read
        SegmentRepository(conn).replace_transcript(other, [Segment(0.0, 1.0, "nicht lesen 読まない")])
        conn.execute(
            "INSERT INTO shares (media_file_id, user_id, role, shared_by) VALUES (%s, %s, 'editor', %s)",
            [file_id, editor.id, owner.id],
        )
    with db.acting(editor), db.transaction() as conn:
        queued = dispatch.queue_embedding(conn, file_id)
    assert queued is not None
    seen: list[tuple[str, str, int]] = []
    source = PassageRepository.source

    def watched(repo: PassageRepository, actor: Actor, file: int) -> Any:
        row = repo.conn.execute(
            "SELECT current_setting('opentr.actor_id'), current_user, (SELECT count(*) FROM media_files)"
        ).fetchone()
        assert row is not None
        seen.append((str(row[0]), str(row[1]), int(row[2])))
        return source(repo, actor, file)

    monkeypatch.setattr(PassageRepository, "source", watched)
    job_settings = settings.model_copy(update={"opentr_embedding_model": str(tiny_embedding_dir)})
    context = JobContext(job_settings, db, fresh_url, "", settings.storage_dir, open_storage(settings))
    monkeypatch.setattr(jobrun, "job_context", lambda: context)

    assert jobrun.run(embed_job.EmbedPassages(), file_id, queued.task_id) == "completed"

    assert seen == [(str(owner.id), "opentr_app", 1)]  # as the owner, who sees their one file
    with db.acting_as_system(), db.transaction() as conn:
        [(task_user, status)] = conn.execute("SELECT user_id, status FROM tasks WHERE id = %s", [queued.task_id])
        stored = conn.execute("SELECT DISTINCT media_file_id FROM passages").fetchall()
    assert (task_user, status) == (owner.id, "completed")
    assert stored == [(file_id,)]


def test_a_dead_run_is_queued_again_a_bounded_number_of_times(db: Database, fresh_url: str, settings: Settings) -> None:
    with db.acting_as_system(), db.transaction() as conn:
        owner = factories.user(conn)
        file_id, _ = factories.media_file(conn, owner, status="completed")

    def die() -> str:
        """The file's pending embedding task starts, then its worker dies (no lock held): recovery's turn."""
        with db.acting_as_system(), db.transaction() as conn:
            started = conn.execute(
                "UPDATE tasks SET status = 'in_progress' WHERE media_file_id = %s AND status = 'pending'", [file_id]
            )
            assert started.rowcount == 1
        with open_lock_session(fresh_url, settings, "test-recovery") as locks:
            report = recover(db, locks, None)
        return str(report.recovered[0].outcome)

    with db.acting_as_system(), db.transaction() as conn:
        assert dispatch.queue_embedding(conn, file_id) is not None
        assert dispatch.queue_embedding(conn, file_id) is None  # one pending task per file
    outcomes = [die() for _ in range(MAX_DEAD_RUNS)]

    assert outcomes == ["requeued"] * (MAX_DEAD_RUNS - 1) + ["given up"]
    with db.acting_as_system(), db.transaction() as conn:
        rows = conn.execute(
            "SELECT status, error_message FROM tasks WHERE media_file_id = %s AND task_type = %s",
            [file_id, EMBEDDING.name],
        ).fetchall()
    assert rows == [("failed", DEAD_OWNER)] * MAX_DEAD_RUNS  # nothing left pending: the file is stale, and says so

    # A job that ended between recovery's read of it (in progress) and its lock was alive: nothing to do or report.
    with db.acting_as_system(), db.transaction() as conn:
        queued = dispatch.queue_embedding(conn, file_id)
        assert queued is not None
        conn.execute("UPDATE tasks SET status = 'completed' WHERE id = %s", [queued.task_id])
        assert EMBEDDING.recover(conn, DeadJob(queued.task_id, file_id)).outcome is Outcome.FINISHED
        assert conn.execute("SELECT count(*) FROM tasks WHERE status = 'pending'").fetchone() == (0,)
