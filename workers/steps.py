"""One job step = one transaction that writes its result and its progress (file, task, announced live to the
owner's pages; repo/notifications.py: progress is not a notification, only outcomes are).

A step that finds the file's cancel flag raised (or the file taken over by another job) raises instead of
committing, so the job stops between steps and never writes past a cancellation. Progress written here is for
display only: whether the job is alive is its advisory lock's business (workers/liveness.py), so no background
heartbeat competes with a step for the file's row.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

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
    reports_as: str = TRANSCRIPTION.progress  # the notification kind of its outcome (its kind's declaration)
    # What the owner should know with the outcome (a transcript that may not fit, speakers not told apart): said in
    # the one notification the job ends with, not in one each. A run again starts with none (process_media).
    notes: list[str] = field(default_factory=list)

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
            self.announce(conn, title, progress)

    def announce(self, conn: Connection, step: str, progress: float | None) -> None:
        """The step, live on the file's page and in the library; stored nowhere but in the file's progress."""
        NotificationRepository(conn).progress(self.user_id, step, progress, self.file_id, self.task_id)

    def note(self, note: str) -> None:
        """Something to say with the outcome; a step's transaction run again adds it once."""
        if note and note not in self.notes:
            self.notes.append(note)

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
