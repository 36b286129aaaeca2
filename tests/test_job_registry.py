"""Each kind of job is declared once (jobs/registry.py), and recovery and the outbox dispatcher are driven by the
registry: a kind without a recovery action cannot exist, every kind's dead task ends, and a kind declared only in a
test (tests/job_probe.py: its declaration, its function, its SQL) is dispatched, claimed, killed with the worker
running it and recovered by another worker through the real `opentr worker` machinery."""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import psycopg
import pytest
from redis import Redis
from rq import Queue

from config.settings import Settings
from jobs import dispatch
from jobs.kinds import PROJECT_KINDS, all_kinds
from jobs.queues import ALL_QUEUES, MEDIA
from jobs.registry import DEAD_OWNER, JobKind, declare
from jobs.transcription import TRANSCRIPTION
from repo.database import Database
from repo.errors import Invalid
from repo.file_processing import FILE_SUBJECT
from repo.tasks import TaskRepository
from tests import factories
from tests.fault_support import wait_until
from tests.workers_support import WorkerEnv, kill_group
from workers.liveness import open_lock_session
from workers.recovery import recover

PROBE_TABLE = """
CREATE TABLE probe_items (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id),
    task_id text NOT NULL,
    status text NOT NULL DEFAULT 'queued',
    runs integer NOT NULL DEFAULT 0,
    released boolean NOT NULL DEFAULT false
)"""
# `opentr worker`, in a process that first imports the probe's declaration (a plugin would be imported the same way)
WORKER_WITH_PROBE = "import sys, tests.job_probe; from opentr_cli.cli import main; sys.exit(main(['worker']))"


def test_every_kind_has_a_recovery_action_a_queue_a_subject_and_a_function_that_runs_it() -> None:
    kinds = all_kinds()
    assert {kind.name for kind in kinds} >= {"transcription", "summarization", "download"}
    assert len({kind.name for kind in kinds}) == len(kinds)
    for kind in kinds:
        assert callable(kind.recover), kind.name
        assert kind.queue in ALL_QUEUES and kind.timeout_seconds > 0, kind.name
        assert kind.subject.namespace, kind.name
        module, _, name = kind.function.rpartition(".")
        function = getattr(importlib.import_module(module), name)  # what RQ imports in the worker
        assert function.kind is kind, f"{kind.function} runs {function.kind.name}, not {kind.name}"


def test_a_kind_without_a_recovery_action_cannot_be_declared() -> None:
    declaration: dict[str, Any] = {
        "name": "dubbing",
        "queue": MEDIA,
        "function": "workers.dubbing.dub",
        "subject": FILE_SUBJECT,
        "progress": "processing",
        "timeout_seconds": 60,
    }
    with pytest.raises(TypeError, match="recover"):
        JobKind(**declaration)
    with pytest.raises(TypeError, match="job kind 'dubbing': recover must be a function"):
        JobKind(**declaration, recover=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown queue 'gpu'"):
        JobKind(**{**declaration, "queue": "gpu"}, recover=TRANSCRIPTION.recover)
    with pytest.raises(ValueError, match="dotted path"):
        JobKind(**{**declaration, "function": "translate"}, recover=TRANSCRIPTION.recover)
    twice = JobKind(**{**declaration, "name": "transcription"}, recover=TRANSCRIPTION.recover)
    with pytest.raises(ValueError, match="'transcription' is declared twice"):
        declare(twice)
    assert "dubbing" not in {kind.name for kind in all_kinds()}


def test_the_schema_names_no_kind_the_registry_is_the_one_list(db: Database) -> None:
    """The CHECK on tasks.task_type is a shape, not a second list of kinds: every declared kind is a type the
    schema accepts, and a name that is no name is refused."""
    with db.transaction() as conn:
        [(check,)] = conn.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'tasks_task_type_check'"
        ).fetchall()
        assert not any(kind.name in check for kind in PROJECT_KINDS), check
        owner = factories.user(conn)
        for kind in all_kinds():
            assert TaskRepository(conn).create(f"t-{kind.name}", owner.id, None, kind.name).task_type == kind.name
    with pytest.raises(Invalid) as refused, db.transaction() as conn:
        TaskRepository(conn).create("t-bad", owner.id, None, "Übersetzung 🌐")
    assert refused.value.field == "task_type"


def dead_tasks(db: Database, owner: int, types: list[str]) -> list[str]:
    """A task of each type in progress, its subject gone, nobody holding its lock."""
    with db.transaction() as conn:
        tasks = TaskRepository(conn)
        for task_type in types:
            tasks.create(f"dead-{task_type}", owner, None, task_type)
            tasks.start(f"dead-{task_type}")
    return [f"dead-{task_type}" for task_type in types]


def test_recovery_ends_the_dead_task_of_every_declared_kind_and_leaves_undeclared_kinds_alone(
    db: Database, fresh_url: str, settings: Settings
) -> None:
    """Driven by the registry: each kind's own SQL finds its dead task and its own action ends it. A task of a kind
    this worker does not declare (a newer release's, during a rolling upgrade) is not this worker's to close."""
    with db.transaction() as conn:
        owner = factories.user(conn).id
    declared = dead_tasks(db, owner, [kind.name for kind in all_kinds()])
    [newer] = dead_tasks(db, owner, ["dubbing"])
    with open_lock_session(fresh_url, settings, "test-recovery") as locks:
        report = recover(db, locks, None)
    assert sorted(report.closed_tasks) == sorted(declared) and report.errors == 0
    with db.transaction() as conn:
        rows = conn.execute("SELECT id, status, error_message FROM tasks WHERE id LIKE 'dead-%%' ORDER BY id")
        statuses = {task: (status, message) for task, status, message in rows.fetchall()}
    assert all(statuses[task] == ("failed", DEAD_OWNER) for task in declared), statuses
    assert statuses[newer] == ("in_progress", None)


def test_the_dispatcher_enqueues_what_each_kind_finds_waiting(db: Database, redis_url: str) -> None:
    """Redis lost everything: each kind's waiting tasks are enqueued again, to its own function and queue; a task
    whose subject moved on is not."""
    redis = Redis.from_url(redis_url)
    redis.flushdb()
    with db.transaction() as conn:
        owner = factories.user(conn)
        file_id, _ = factories.media_file(conn, owner, filename="会議の記録.wav")
        processing = dispatch.queue_processing(conn, file_id, owner.id)
        download = dispatch.queue_url_import(conn, owner.id, "https://example.com/Besprechung-Müller.mp3")
        moved_on, _ = factories.media_file(conn, owner)
        stale = dispatch.queue_processing(conn, moved_on, owner.id)
        conn.execute("UPDATE media_files SET status = 'cancelled' WHERE id = %s", [moved_on])
    try:
        assert sorted(dispatch.dispatch_pending(db, redis)) == sorted([processing, download.task_id])
        jobs = {job.id: job for job in Queue(MEDIA, connection=redis).get_jobs()}
        assert jobs[processing].func_name == "workers.process_media.process_media"
        assert jobs[processing].args == (file_id, processing)
        assert jobs[download.task_id].func_name == "workers.url_import.download_url"
        assert stale not in jobs
        assert dispatch.dispatch_pending(db, redis) == []  # RQ holds them now
    finally:
        redis.flushdb()


@pytest.fixture
def workers(fresh_url: str, redis_url: str, tmp_path: Path) -> Iterator[WorkerEnv]:
    Redis.from_url(redis_url).flushdb()
    yield WorkerEnv(fresh_url, redis_url, tmp_path / "home")
    Redis.from_url(redis_url).flushdb()


def probe_worker(workers: WorkerEnv, log: Path) -> subprocess.Popen[str]:
    with log.open("a") as out:
        return subprocess.Popen(
            [sys.executable, "-c", WORKER_WITH_PROBE],
            env=workers.env(OPENTR_MAINTENANCE_SECONDS="0.2"),
            text=True,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def probe_item(workers: WorkerEnv, item: int) -> tuple[str, int]:
    [(status, runs)] = workers.query("SELECT status, runs FROM probe_items WHERE id = %s", item)
    return status, runs


@pytest.mark.slow
def test_a_kind_declared_only_in_a_test_is_dispatched_claimed_killed_and_recovered_by_another_worker(
    workers: WorkerEnv, tmp_path: Path
) -> None:
    with psycopg.connect(workers.conninfo, autocommit=True) as conn, conn.transaction():
        conn.execute(PROBE_TABLE)
        owner = factories.user(conn)
        # what a queue function of the kind would write; no job on Redis: the dispatcher of the worker finds it
        conn.execute("INSERT INTO tasks (id, user_id, task_type) VALUES ('probe-first', %s, 'probe')", [owner.id])
        [(item,)] = conn.execute(
            "INSERT INTO probe_items (user_id, task_id) VALUES (%s, 'probe-first') RETURNING id", [owner.id]
        ).fetchall()
    log = tmp_path / "worker.log"
    first = probe_worker(workers, log)
    started: list[subprocess.Popen[str]] = [first]
    try:
        wait_until(lambda: probe_item(workers, item) == ("running", 1), 60, "the probe job to run")
        job_process = psutil.Process(first.pid).children(recursive=True)
        assert job_process, "the job runs in the worker's child process"
        os.kill(first.pid, signal.SIGKILL)  # the worker's main pid: its job process dies with it
        first.wait(timeout=10)
        wait_until(lambda: not any(p.is_running() and p.status() != "zombie" for p in job_process), 10, "the job")
        assert probe_item(workers, item) == ("running", 1)
        workers.query("UPDATE probe_items SET released = true WHERE id = %s RETURNING id", item)

        started.append(probe_worker(workers, log))  # another worker: its recovery finds the probe's dead task
        wait_until(lambda: probe_item(workers, item)[0] == "done", 60, "the probe job to be recovered and rerun")
    finally:
        for proc in started:
            if proc.poll() is None:
                kill_group(proc)
    text = log.read_text()
    assert probe_item(workers, item) == ("done", 2), text
    tasks = workers.query("SELECT id, status, error_message FROM tasks WHERE task_type = 'probe' ORDER BY created_at")
    assert [(status, message) for _, status, message in tasks] == [("failed", DEAD_OWNER), ("completed", None)]
    assert tasks[0][0] == "probe-first" and tasks[1][0].startswith("probe-")
    assert "recovery: probe probe-first requeued" in text and "Traceback" not in text, text
