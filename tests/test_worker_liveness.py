"""Step 7: whether a job lives is answered by PostgreSQL (its advisory lock), and `opentr worker` supervises itself.

Real `opentr worker` processes (supervisor + SimpleWorker child) on the test's own database and Redis; jobs are
killed the way an OOM killer or a supervisor does it, and other workers start while a job sits in a long COPY.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import psycopg
import pytest
from redis import Redis

from config.settings import Settings
from jobs import dispatch
from repo.database import Database
from repo.file_processing import FileProcessingRepository
from repo.tasks import TaskRepository
from tests import factories
from tests.fault_support import wait_until
from tests.workers_support import WorkerEnv, kill_group, many_cues, srt, wav
from workers.liveness import open_lock_session
from workers.recovery import recover

pytestmark = pytest.mark.slow
LONG_TRANSCRIPT = 60_000  # cues: COPY and the step's transaction take seconds, longer than every interval here


@pytest.fixture
def workers(fresh_url: str, redis_url: str, tmp_path: Path) -> Iterator[WorkerEnv]:
    Redis.from_url(redis_url).flushdb()
    yield WorkerEnv(fresh_url, redis_url, tmp_path / "home")
    Redis.from_url(redis_url).flushdb()


@pytest.fixture
def served(workers: WorkerEnv, tmp_path: Path) -> Iterator[list[subprocess.Popen[str]]]:
    """Worker processes a test starts; whatever is still running at the end is killed with its children."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            kill_group(proc)


def file_row(workers: WorkerEnv, file_id: int) -> tuple[str, int, int]:
    [(status, attempts, segments)] = workers.query(
        "SELECT status, recovery_attempts, (SELECT count(*) FROM transcript_segments WHERE media_file_id = m.id)"
        " FROM media_files m WHERE id = %s",
        file_id,
    )
    return status, attempts, segments


def task_statuses(workers: WorkerEnv, file_id: int) -> list[str]:
    rows = workers.query(
        "SELECT status FROM tasks WHERE media_file_id = %s AND task_type = 'transcription' ORDER BY created_at, id",
        file_id,
    )
    return [status for (status,) in rows]


def copying(workers: WorkerEnv) -> bool:
    rows = workers.query(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'COPY%%'"
        " AND state = 'active'"
    )
    return bool(rows[0][0] > 0)


def dead_job(workers: WorkerEnv, *, cancelling: bool = False) -> tuple[int, str]:
    """A file whose job claimed it and then vanished: processing, task in progress, nobody holds the lock."""
    with psycopg.connect(workers.conninfo, autocommit=True) as conn, conn.transaction():
        owner = factories.user(conn)
        file_id, _ = factories.media_file(conn, owner)
        task_id = dispatch.queue_processing(conn, file_id, owner.id)
        FileProcessingRepository(conn).start_processing(file_id, task_id)
        TaskRepository(conn).start(task_id)
        if cancelling:
            conn.execute(
                "UPDATE media_files SET status = 'cancelling', cancellation_requested = true WHERE id = %s", [file_id]
            )
    return file_id, task_id


def log_of(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def test_recovery_and_dispatch_run_periodically_with_no_job_in_flight(
    workers: WorkerEnv, served: list[subprocess.Popen[str]], tmp_path: Path
) -> None:
    """Not once at start: three dead jobs made one after another while the worker idles are each recovered, and
    a queued file whose job never reached Redis is dispatched and processed."""
    log = tmp_path / "worker.log"
    served.append(workers.serve(log))
    time.sleep(0.5)  # the start-up pass is over; what follows is found by the periodic ones
    for _ in range(3):
        file_id, _task = dead_job(workers, cancelling=True)
        wait_until(lambda: file_row(workers, file_id)[0] == "cancelled", 20, "a periodic recovery pass")  # noqa: B023
        assert task_statuses(workers, file_id) == ["cancelled"]
    # committed, but its job never reached Redis (down after the commit, or restarted empty)
    forgotten = workers.arrange(wav(), srt([(0.0, 1.0, "SPEAKER_00", "never enqueued")]), enqueue=False)
    wait_until(lambda: file_row(workers, forgotten.file_id)[0] == "completed", 30, "the dispatcher to enqueue it")
    assert file_row(workers, forgotten.file_id) == ("completed", 0, 1)
    assert served[0].poll() is None, log_of(log)


def test_a_live_job_in_a_long_copy_is_not_recovered_by_workers_started_meanwhile(
    workers: WorkerEnv, served: list[subprocess.Popen[str]], tmp_path: Path
) -> None:
    arranged = workers.arrange(wav(), srt(many_cues(LONG_TRANSCRIPT)))
    first = workers.start(OPENTR_JOB_KEEPALIVE_SECONDS="1")
    served.append(first)
    wait_until(lambda: copying(workers), 120, "the transcript COPY to start")
    logs = [tmp_path / "second.log", tmp_path / "third.log"]
    for log in logs:
        served.append(workers.serve(log, OPENTR_JOB_KEEPALIVE_SECONDS="1", OPENTR_MAINTENANCE_SECONDS="0.1"))
    assert first.wait(timeout=240) == 0
    assert file_row(workers, arranged.file_id) == ("completed", 0, LONG_TRANSCRIPT)
    assert task_statuses(workers, arranged.file_id) == ["completed"]
    time.sleep(0.5)  # a few more maintenance passes of the late workers, which find nothing to do
    for proc, log in zip(served[1:], logs, strict=True):
        text = log_of(log)
        assert proc.poll() is None, text
        assert "Deadlock" not in text and "Traceback" not in text and "recovery:" not in text, text
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, log_of(log)


def test_sigkill_mid_copy_then_an_immediate_restart_completes_the_file_once(
    workers: WorkerEnv, served: list[subprocess.Popen[str]], tmp_path: Path
) -> None:
    arranged = workers.arrange(wav(), srt(many_cues(LONG_TRANSCRIPT)))
    log = tmp_path / "worker.log"
    victim = workers.serve(log)
    served.append(victim)
    wait_until(lambda: copying(workers), 120, "the transcript COPY to start")
    os.kill(victim.pid, signal.SIGKILL)  # the main pid only, as a supervisor's `kill -9` would
    victim.wait(timeout=10)
    restarted_at = time.monotonic()
    served.append(workers.serve(log))  # at once: nothing has gone stale, and nothing needs to
    wait_until(lambda: file_row(workers, arranged.file_id)[0] == "completed", 120, "the file to complete")
    took = time.monotonic() - restarted_at
    assert file_row(workers, arranged.file_id) == ("completed", 1, LONG_TRANSCRIPT), log_of(log)
    assert task_statuses(workers, arranged.file_id) == ["failed", "completed"]
    print(f"completed {took:.1f} s after the immediate restart (the transcript step itself takes most of it)")


def test_sigkill_of_the_main_pid_leaves_no_process_behind(
    workers: WorkerEnv, served: list[subprocess.Popen[str]], tmp_path: Path
) -> None:
    arranged = workers.arrange(wav(), srt(many_cues(LONG_TRANSCRIPT)))
    proc = workers.serve(tmp_path / "worker.log")
    served.append(proc)
    wait_until(lambda: copying(workers), 120, "a job to be running in the child")
    tree = psutil.Process(proc.pid).children(recursive=True)
    assert tree, "the supervisor runs its jobs in a child process"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)

    def gone(process: psutil.Process) -> bool:
        try:
            return bool(process.status() == psutil.STATUS_ZOMBIE)
        except psutil.NoSuchProcess:
            return True

    wait_until(lambda: all(gone(p) for p in tree), 10, "every process of the worker to end")
    assert file_row(workers, arranged.file_id)[0] == "processing", "nobody is left to finish it"


def test_two_recoveries_at_the_same_moment_recover_a_dead_job_once(workers: WorkerEnv, tmp_path: Path) -> None:
    file_id, task_id = dead_job(workers)
    settings = Settings(opentr_home=tmp_path / "home", db_pool_min=0, db_pool_max=2)
    barrier = threading.Barrier(4)
    reports: list[Any] = []

    def one_recovery() -> None:
        with Database(workers.conninfo, settings) as db, open_lock_session(workers.conninfo, settings, "t") as locks:
            barrier.wait()
            reports.append(recover(db, locks, Redis.from_url(workers.redis_url)))

    threads = [threading.Thread(target=one_recovery) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(len(r.requeued) for r in reports) == [0, 0, 0, 1] and not any(r.errors for r in reports)
    assert file_row(workers, file_id)[:2] == ("queued", 1)
    assert task_statuses(workers, file_id) == ["failed", "pending"]
    [(queued_task,)] = workers.query("SELECT active_task_id FROM media_files WHERE id = %s", file_id)
    assert queued_task != task_id
