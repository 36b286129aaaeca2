"""The `data_export` kind: "download everything of mine" built into one zip in storage, run by
workers/data_export.py; pending → processing → ready | failed (repo/data_exports.py).

A request and its task are written in one transaction (`queue_export`) and enqueued after its commit. An export
whose worker died ends failed, and its owner is told to ask again: the archive is rebuilt whole by a new request,
nothing of a half-written one is ever offered (it is written to the spool and stored only once complete).
"""

from __future__ import annotations

from jobs.queues import SUMMARIES
from jobs.registry import DEAD_OWNER, DeadJob, JobKind, Outcome, Queued, Recovered, close_task, declare
from repo.data_exports import DATA_EXPORT_SUBJECT, DataExport, DataExportRepository, task_id_for
from repo.database import Connection
from repo.errors import Conflict, NotFound
from repo.notifications import NotificationRepository
from repo.rows import Actor

NOTIFICATION_KIND = "system"  # an outcome of the person's own request about their account, not of a file


def queue_export(conn: Connection, actor: Actor) -> tuple[DataExport, Queued]:
    """A pending export and its task in the caller's transaction; enqueue the returned job after the commit."""
    export = DataExportRepository(conn).create(actor)
    task_id = DATA_EXPORT.create_task(conn, actor.id, None, task_id_for(export.uuid))
    return export, Queued(DATA_EXPORT, export.id, task_id)


def _recover(conn: Connection, dead: DeadJob) -> Recovered:
    if dead.subject_id is None:
        return close_task(conn, dead.task_id)
    try:
        export = DataExportRepository(conn).fail(dead.subject_id, f"{DEAD_OWNER}; request the export again")
    except (Conflict, NotFound):  # it ended meanwhile, or went with its account
        return close_task(conn, dead.task_id)
    close_task(conn, dead.task_id)
    NotificationRepository(conn).notify(  # last, as the lock order of sql/jobs.sql says
        export.user_id,
        "error",
        "export of your data failed",
        "the worker stopped while building it; request the export again",
        task_id=dead.task_id,
    )
    return Recovered(Outcome.FAILED)


DATA_EXPORT = declare(
    JobKind(
        name="data_export",
        # Beside summaries: work a person waits for that needs no GPU; a transcription never waits behind it.
        queue=SUMMARIES,
        function="workers.data_export.build_export",
        subject=DATA_EXPORT_SUBJECT,
        recover=_recover,
        progress=NOTIFICATION_KIND,
        timeout_seconds=6 * 3600,  # many hours of recordings are copied through the spool into storage
    )
)
