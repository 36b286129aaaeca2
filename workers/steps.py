"""One job step = one transaction that writes its result, its progress (file, task) and a notification.

A step that finds the file's cancel flag raised (or the file taken over by another job) raises instead of
committing, so the job stops between steps and never writes past a cancellation.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from repo.database import Connection, Database
from repo.errors import Conflict, NotFound
from repo.file_processing import FileProcessingRepository
from repo.notifications import NotificationRepository
from repo.tasks import TaskRepository

log = logging.getLogger("opentr.jobs")


class JobCancelled(Exception):
    """The user asked to cancel this file."""


class JobSuperseded(Exception):
    """The file is no longer this job's (deleted, recovered by another job): stop without touching it."""


@dataclass
class FileJob:
    db: Database
    file_id: int
    user_id: int
    task_id: str
    filename: str
    progress: float = 0.0

    def step(self, progress: float, title: str, write: Callable[[Connection], object] | None = None) -> None:
        with self.db.transaction() as conn:
            if write is not None:
                write(conn)
            report = FileProcessingRepository(conn).update_progress(self.file_id, self.task_id, progress)
            if not report.accepted:
                raise JobSuperseded(f"file {self.file_id} is no longer owned by {self.task_id}")
            if report.cancellation_requested:
                raise JobCancelled(title)
            TaskRepository(conn).heartbeat(self.task_id, progress)
            self.notify(conn, "processing", title, progress=progress)
        self.progress = progress

    def heartbeat(self, every_seconds: float) -> contextlib.AbstractContextManager[None]:
        """While the body runs, tell the database this job is alive, so recovery leaves it alone."""

        def beat(conn: Connection) -> None:
            FileProcessingRepository(conn).update_progress(self.file_id, self.task_id, self.progress)
            TaskRepository(conn).heartbeat(self.task_id, self.progress)

        return heartbeat(self.db, self.task_id, beat, every_seconds)

    def notify(self, conn: Connection, kind: str, title: str, message: str = "", progress: float | None = None) -> None:
        NotificationRepository(conn).notify(
            self.user_id,
            kind,
            f"{self.filename}: {title}",
            message,
            data={"task_id": self.task_id},
            progress=progress,
            media_file_id=self.file_id,
            task_id=self.task_id,
        )


@contextlib.contextmanager
def ignoring_gone() -> Iterator[None]:
    """For bookkeeping on rows that another actor may have moved on or deleted meanwhile."""
    with contextlib.suppress(Conflict, NotFound):
        yield


@contextlib.contextmanager
def heartbeat(db: Database, task_id: str, beat: Callable[[Connection], object], every_seconds: float) -> Iterator[None]:
    """Run `beat` in its own transaction every `every_seconds` while the body runs (a background thread)."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every_seconds):
            try:
                with db.transaction() as conn:
                    beat(conn)
            except Exception:  # a missed beat is harmless; the next one may get through
                log.debug("heartbeat of %s failed", task_id, exc_info=True)

    thread = threading.Thread(target=loop, name=f"heartbeat-{task_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=every_seconds + 5)
