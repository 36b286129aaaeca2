"""One job step = one transaction that writes its result, its progress (file, task) and a notification.

A step that finds the file's cancel flag raised (or the file taken over by another job) raises instead of
committing, so the job stops between steps and never writes past a cancellation. Progress written here is for
display only: whether the job is alive is its advisory lock's business (workers/liveness.py), so no background
heartbeat competes with a step for the file's row.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from jobs.transcription import TRANSCRIPTION
from repo.database import Connection, Database
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
    reports_as: str = TRANSCRIPTION.progress  # the notification kind of its progress (its kind's declaration)

    def step(self, progress: float, title: str, write: Callable[[Connection], object] | None = None) -> None:
        with self.db.transaction() as conn:
            if write is not None:
                write(conn)
            self._progress(conn, progress, title, announce=True)
        self.progress = progress

    def report(self, progress: float, title: str, *, announce: bool = True) -> None:
        """Progress inside a long step (its own short transaction); raises like `step` when told to stop."""
        with self.db.transaction() as conn:
            self._progress(conn, progress, title, announce=announce)
        self.progress = progress

    def _progress(self, conn: Connection, progress: float, title: str, *, announce: bool) -> None:
        report = FileProcessingRepository(conn).update_progress(self.file_id, self.task_id, progress)
        if not report.accepted:
            raise JobSuperseded(f"file {self.file_id} is no longer owned by {self.task_id}")
        if report.cancellation_requested:
            raise JobCancelled(title)
        TaskRepository(conn).heartbeat(self.task_id, progress)
        if announce:
            self.notify(conn, self.reports_as, title, progress=progress)

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
