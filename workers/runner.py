"""`opentr worker`: a supervising process that outlives Redis and PostgreSQL outages.

The process itself runs maintenance (recovery + dispatch, workers/maintenance.py) in a thread and keeps one child
process (`--processes N`: N children, each restarted on its own; on a GPU machine one per GPU, each seeing only its
own, workers/gpus.py) running RQ's `SimpleWorker` on the project's queues. Jobs run inside that child (no work
horse per job: a loaded speech model is reused across jobs, and no grandchild can outlive us). When Redis goes
away the child's RQ loop dies; the supervisor waits for Redis with bounded backoff — one log line when it goes,
one when it is back — and starts a new child, and the dispatcher re-enqueues whatever an emptied Redis lost.

The child gets SIGKILL from the kernel when the supervisor dies, however it dies (`PR_SET_PDEATHSIG`, Linux), so
killing only the main pid leaves nothing running; SIGTERM/SIGINT stop the child (SIGTERM, then SIGKILL after a
grace period) and then the supervisor. A job killed that way is recovered at once by the next worker: its advisory
lock went with its process.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from types import FrameType

import psycopg
from redis.exceptions import RedisError
from rq import SimpleWorker

from config.settings import Settings
from jobs.queues import ALL_QUEUES, redis_connection
from repo import passages, schema
from workers.gpus import VISIBLE, Assignment
from workers.maintenance import Maintenance

log = logging.getLogger("opentr.worker")
STOP_GRACE_SECONDS = 10.0
MAX_BACKOFF_SECONDS = 10.0
_PR_SET_PDEATHSIG = 1


def run_worker(
    settings: Settings,
    database_url: str,
    redis_url: str,
    *,
    burst: bool = False,
    name: str | None = None,
    recovery: bool = True,
    assignment: Assignment | None = None,
) -> bool:
    """Run jobs until stopped (`burst`: until the queues are empty, in this process) in the job processes of
    `assignment` (default: one, with the environment as it is)."""
    assignment = assignment or Assignment(1)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Jobs build their own pool from the environment (workers/context.py), in this process or the child.
    os.environ["DATABASE_URL"], os.environ["REDIS_URL"] = database_url, redis_url
    schema.wait_until_ready(database_url, settings.opentr_schema_wait_seconds, say=log.warning)
    _say_whether_meaning_is_on(database_url)
    maintenance = Maintenance(settings, database_url, redis_url)
    if burst:  # the jobs run here: this process takes the first job process's GPU, before anything uses CUDA
        gpu = assignment.gpu_of(0)
        if gpu is not None:
            os.environ[VISIBLE] = gpu
        try:
            if recovery:
                maintenance.run_once()
            return bool(job_worker(redis_url, name).work(burst=True, with_scheduler=False, logging_level="INFO"))
        finally:
            maintenance.stop()
    if recovery:
        maintenance.start()
    log.info("worker: %s", assignment.describe())
    try:
        return Supervisor(redis_url, name, assignment).run()
    finally:
        maintenance.stop()


def _say_whether_meaning_is_on(database_url: str) -> None:
    """Once at start: embedding jobs store vectors either way, but search by meaning needs pgvector."""
    with psycopg.connect(database_url, autocommit=True, connect_timeout=10) as conn:
        notice = passages.search_by_meaning_notice(conn)
    if notice:
        log.warning(notice)


class JobWorker(SimpleWorker):
    """RQ's SimpleWorker, its command channel polled every second. RQ polls it every 60 s and joins that thread when
    work() ends; an unsubscribe landing while the thread waited made a worker take up to a minute to exit (a burst
    worker done with its jobs, a child told to stop)."""

    COMMAND_POLL_SECONDS = 1.0

    def subscribe(self) -> None:
        self.log.info("Worker %s: subscribing to channel %s", self.name, self.pubsub_channel_name)
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(  # type: ignore[assignment]  # RQ types it as None
            sleep_time=self.COMMAND_POLL_SECONDS, daemon=True, exception_handler=self._pubsub_exception_handler
        )


def job_worker(redis_url: str, name: str | None = None) -> SimpleWorker:
    return JobWorker(list(ALL_QUEUES), connection=redis_connection(redis_url), name=name)


def die_with_parent() -> None:
    """In a child, before exec (`preexec_fn`): the kernel sends it SIGKILL when the thread that started it ends,
    however the parent ends (SIGKILL included), so a child cannot outlive us and keep a port or a job. The signal
    follows the forking *thread*, not the process: start children from a thread that lives as long as they should
    (`opentr dev` uses it too, for its web server and worker)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class Supervisor:
    def __init__(self, redis_url: str, name: str | None, assignment: Assignment) -> None:
        self.redis_url, self.name, self.assignment = redis_url, name, assignment
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self.generation = 0

    def run(self) -> bool:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):  # a closed terminal stops us too
            signal.signal(signum, self._on_signal)
        keepers = [
            threading.Thread(target=self._keep, args=(slot,), name=f"opentr-job-process-{slot}", daemon=True)
            for slot in range(self.assignment.processes)
        ]
        for keeper in keepers:
            keeper.start()
        while any(keeper.is_alive() for keeper in keepers):  # the main thread stays free for signals
            for keeper in keepers:
                keeper.join(timeout=0.2)
        return True

    def _keep(self, slot: int) -> None:
        """Keep one child running until stopped: wait for Redis, start it, restart it when it exits."""
        backoff, redis_down = 0.5, False
        while not self.stopping.is_set():
            if not self._redis_reachable():
                if not redis_down:
                    log.warning("worker: Redis unavailable; waiting for it (jobs wait in the database)")
                    redis_down = True
                self.stopping.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                continue
            if redis_down:
                log.warning("worker: Redis available again; starting the job worker")
                redis_down = False
            started = time.monotonic()
            code = self._run_child(slot)
            if self.stopping.is_set():
                break
            log.warning("worker: the job worker exited (code %s); restarting it", code)
            backoff = 0.5 if time.monotonic() - started > 30 else min(backoff * 2, MAX_BACKOFF_SECONDS)
            self.stopping.wait(backoff)

    def _redis_reachable(self) -> bool:
        try:
            return bool(redis_connection(self.redis_url).ping())
        except RedisError:
            return False

    def _run_child(self, slot: int) -> int:
        with self._lock:
            self.generation += 1
            generation = self.generation
        name = f"{self.name}-{slot}-{generation}" if self.name else ""
        # PR_SET_PDEATHSIG fires when the forking *thread* ends: each keeper thread outlives its own child.
        child = subprocess.Popen(
            [sys.executable, "-m", "workers.job_process", name],
            env=self.assignment.environment(slot, os.environ),
            preexec_fn=die_with_parent,
        )
        while True:
            try:
                return child.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                if self.stopping.is_set():
                    return self._stop_child(child)

    def _stop_child(self, child: subprocess.Popen[bytes]) -> int:
        child.send_signal(signal.SIGTERM)
        try:
            return child.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            child.kill()
            return child.wait()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        log.warning("worker: %s received; stopping", signal.Signals(signum).name)
        self.stopping.set()
