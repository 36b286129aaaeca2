"""One retention pass, and `run_retention(subject_id, task_id)`, the `retention` kind (jobs/retention.py).

A pass, as the system (it spans every user; repo/retention.py says the rule):

1. tells the owner of each file due within OPENTR_RETENTION_NOTICE_DAYS, once per file and due date (an in-app
   notification; the notice row is written whether or not the owner turned such notifications off);
2. deletes the deletable files in batches of OPENTR_RETENTION_BATCH, each batch one transaction: the rows (every
   derived row by the schema's cascades), a `retention.delete` audit row per file (actor NULL: the system), and,
   after the commit, the stored objects (the media and its companions: sidecar, thumbnail). One run over 100k files
   never holds one huge transaction, and a hold placed meanwhile is checked again in each batch's DELETE;
3. purges the audit log older than OPENTR_AUDIT_RETENTION_DAYS (0: kept forever), recording the purge itself as
   `retention.audit_purge` with its count.

A dry run reads the same plan and changes nothing: what it lists as due is what a real run deletes, unless the
clock, a policy or a hold changes in between.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from config.settings import Settings
from jobs.retention import RETENTION
from repo.audit import AuditLog, Event
from repo.database import Connection, Database
from repo.notifications import NotificationRepository
from repo.retention import Planned, RetentionRepository
from repo.tasks import TaskRepository
from storage import layout
from storage.backend import Storage
from workers.jobrun import Failure, JobBody, JobRun, job_function

log = logging.getLogger("opentr.retention")


@dataclass
class RetentionReport:
    dry_run: bool
    due: list[Planned] = field(default_factory=list)  # deleted (or, in a dry run, to be deleted)
    held: list[Planned] = field(default_factory=list)  # due now or soon, but a legal hold stops it
    waiting: list[Planned] = field(default_factory=list)  # due within the notice period, or told too recently
    notified: int = 0
    audit_purged: int = 0

    def summary(self) -> str:
        verb = "would delete" if self.dry_run else "deleted"
        told = "would notify" if self.dry_run else "notified"
        purged = "would purge" if self.dry_run else "purged"
        return (
            f"{verb} {len(self.due)} file(s); {len(self.held)} held; {len(self.waiting)} due soon; "
            f"{told} {self.notified} owner notice(s); {purged} {self.audit_purged} audit row(s)"
        )


def run_pass(db: Database, storage: Storage, settings: Settings, *, dry_run: bool = False) -> RetentionReport:
    """One pass; the caller decides whom it acts as (the job and the CLI: the system)."""
    notice_days, batch = settings.opentr_retention_notice_days, settings.opentr_retention_batch
    with db.transaction() as conn:
        plan = RetentionRepository(conn).read_plan(notice_days=notice_days, batch=batch)
    report = RetentionReport(dry_run, plan.due, plan.held, plan.waiting, notified=len(plan.to_notify))
    if not dry_run:
        report.notified = _notify(db, plan.to_notify)
        report.due = _delete(db, storage, plan.due, batch)
    report.audit_purged = _purge_audit(db, settings.opentr_audit_retention_days, dry_run)
    log.info("retention: %s", report.summary())
    return report


def _notify(db: Database, items: list[Planned]) -> int:
    told = 0
    for item in items:
        with db.transaction() as conn:
            if not RetentionRepository(conn).record_notice(item.id, item.due_at):
                continue
            NotificationRepository(conn).notify(
                item.owner_id,
                "system",
                "recording due for deletion",
                f"“{item.title}” will be deleted on {item.due_at:%Y-%m-%d} under {item.policy_words()}; "
                "ask an administrator for a legal hold if it must be kept",
                data={"file_uuid": str(item.uuid), "due_at": item.due_at.isoformat()},
                media_file_id=item.id,
            )
            told += 1
    return told


def _delete(db: Database, storage: Storage, items: list[Planned], batch: int) -> list[Planned]:
    deleted: list[Planned] = []
    for start in range(0, len(items), batch):
        chunk = {p.id: p for p in items[start : start + batch]}
        with db.transaction() as conn:
            gone = RetentionRepository(conn).delete_files(list(chunk))
            trail = AuditLog(conn)
            for row in gone:
                item = chunk[row.id]
                trail.record(
                    Event(
                        action="retention.delete",
                        actor_id=None,
                        object_type="file",
                        object_id=str(row.uuid),
                        details={
                            "policy": item.policy(),
                            "owner_id": item.owner_id,
                            "title": item.title,
                            "due_at": item.due_at.isoformat(),
                        },
                    )
                )
        for row in gone:  # after the commit: the rows are gone for good
            _remove_objects(storage, row.storage_path)
            deleted.append(chunk[row.id])
    return deleted


def _remove_objects(storage: Storage, storage_path: str) -> None:
    for path in (storage_path, *layout.companions(storage_path)):
        try:
            storage.delete(layout.object_key(path))
        except layout.OutsideStorage:
            log.warning("retention: stored path %r is outside storage; nothing removed", path)
        except OSError as exc:  # `opentr cleanup` finds what is left as a stray file
            log.warning("retention: could not remove %s: %s", path, exc)


def _purge_audit(db: Database, days: int, dry_run: bool) -> int:
    if days <= 0:
        return 0
    with db.transaction() as conn:
        if dry_run:
            return RetentionRepository(conn).audit_older_than(days)
        purged = AuditLog(conn).purge_older_than(days)
        if purged:
            AuditLog(conn).record(
                Event(
                    action="retention.audit_purge",
                    object_type="audit_log",
                    details={"count": purged, "older_than_days": days},
                )
            )
        return purged


class RunRetention(JobBody[None]):
    kind = RETENTION
    acts_as_file_owner = False  # no file: the run acts as the system (work), the task is the administrator's

    def claim(self, run: JobRun, conn: Connection) -> None:
        return None  # the task's own start (pending -> in_progress) is the claim

    def work(self, run: JobRun, job: None) -> None:
        with run.db.acting_as_system():
            run_pass(run.db, run.context.storage, run.context.settings)
            with run.db.transaction() as conn:
                TaskRepository(conn).complete(run.task_id)

    def fail(self, run: JobRun, job: None, failure: Failure) -> None:
        with run.db.acting_as_system(), run.db.transaction() as conn:
            TaskRepository(conn).fail(run.task_id, f"retention run failed ({failure.category}): {failure.message}")


run_retention = job_function(RunRetention())
