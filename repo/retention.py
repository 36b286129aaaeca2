"""Retention (migration 0019, sql/retention.sql): when recordings are deleted, what stops it, and who was told.

The rule is written once, in sql/retention.sql's fragment `schedule`: the shortest applicable period wins (the
instance default an administrator sets, and the policy of every collection holding the file that the file's owner
owns), a file is due at its upload time plus that period, and an active legal hold on the file or on any collection
holding it stops its deletion. A file is deleted no earlier than `notice_days` after its owner was first told
(`notice_days` 0: when due). The run itself (notices, deletions in batches, the audit log's own purge) is
workers/retention_job.py; the dry run and the preview read `plan` as it does, so they list what it would delete.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final
from uuid import UUID

from repo import access
from repo import statements as s
from repo.database import Connection, as_system
from repo.errors import Forbidden, Invalid, NotFound
from repo.jobs import JobSubject
from repo.rows import Actor, trimmed

MAX_DAYS: Final = 36500  # a hundred years: the schema's CHECK
MAX_REASON: Final = 1000


@dataclass(frozen=True, slots=True)
class Planned:
    """A file with a retention period that is due before the plan's horizon."""

    id: int
    uuid: UUID
    owner_id: int
    owner_email: str
    title: str
    storage_path: str
    days: int
    source: str  # 'default' | 'collection'
    collection_uuid: UUID | None
    collection_name: str | None
    due_at: datetime
    hold_uuid: UUID | None
    hold_reason: str | None
    noticed: bool
    deletable: bool

    def policy(self) -> dict[str, object]:
        """What the audit trail and the preview say of the policy that applies."""
        policy: dict[str, object] = {"source": self.source, "days": self.days}
        if self.collection_uuid is not None:
            policy |= {"collection": str(self.collection_uuid), "collection_name": self.collection_name}
        return policy

    def policy_words(self) -> str:
        if self.source == "collection":
            return f"the {self.days}-day policy of the collection “{self.collection_name}”"
        return f"the instance's {self.days}-day retention period"


@dataclass(frozen=True, slots=True)
class Plan:
    """What a pass would do now: `due` deleted, `held` kept by a legal hold, `waiting` due within the notice period
    (or told too recently), `to_notify` the owners to tell (once per file and due date)."""

    due: list[Planned]
    held: list[Planned]
    waiting: list[Planned]
    to_notify: list[Planned]


@dataclass(frozen=True, slots=True)
class FileSchedule:
    uuid: UUID
    days: int | None
    source: str | None
    collection_uuid: UUID | None
    collection_name: str | None
    due_at: datetime | None
    hold_uuid: UUID | None
    hold_reason: str | None
    hold_placed_at: datetime | None


@dataclass(frozen=True, slots=True)
class Notice:
    media_file_id: int
    due_on: date


@dataclass(frozen=True, slots=True)
class Deleted:
    id: int
    uuid: UUID
    storage_path: str


@dataclass(frozen=True, slots=True)
class InstancePolicy:
    default_days: int | None
    updated_at: datetime
    updated_by_email: str | None


@dataclass(frozen=True, slots=True)
class CollectionPolicy:
    uuid: UUID
    days: int | None
    hold_uuid: UUID | None
    hold_reason: str | None
    hold_placed_at: datetime | None


@dataclass(frozen=True, slots=True)
class Hold:
    uuid: UUID
    object_type: str  # 'file' | 'collection'
    object_uuid: UUID | None
    object_name: str | None
    owner_email: str | None
    reason: str
    placed_by_email: str | None
    placed_at: datetime
    released_by_email: str | None
    released_at: datetime | None


@dataclass(frozen=True, slots=True)
class Named:
    id: int
    name: str


_plan = s.many("retention.plan", Planned)
_file_schedule = s.one_or_none("retention.file_schedule", FileSchedule)
_record_notice = s.one_or_none("retention.record_notice", Notice)
_delete_files = s.many("retention.delete_files", Deleted)
_audit_older_than = s.scalar("retention.audit_older_than", int)
_instance_policy = s.one("retention.instance_policy", InstancePolicy)
_set_instance_policy = s.one("retention.set_instance_policy", InstancePolicy)
_collection_policy = s.one_or_none("retention.collection_policy", CollectionPolicy)
_set_collection_policy = s.one_or_none("retention.set_collection_policy", CollectionPolicy)
_file_id = s.one_or_none("retention.file_id", Named)
_collection_id = s.one_or_none("retention.collection_id", Named)
_place_hold = s.one("retention.place_hold", Hold)
_release_hold = s.one_or_none("retention.release_hold", Hold)
_list_holds = s.many("retention.list_holds", Hold)
_queue_lock = s.execute("retention.queue_lock")
_run_wanted = s.scalar("retention.run_wanted", bool)
_task_owner = s.scalar("retention.task_owner", int)

# The `retention` kind's subject (jobs/retention.py): the whole instance, subject id 0.
RETENTION_SUBJECT = JobSubject("retention")


def checked_days(days: int | None, field: str) -> int | None:
    """A period in whole days (1..MAX_DAYS) or None (keep forever); Invalid naming `field` otherwise."""
    if days is not None and not 1 <= days <= MAX_DAYS:
        raise Invalid(f"a retention period is 1 to {MAX_DAYS} days, or null to keep recordings", field)
    return days


class RetentionRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # -- the schedule (the job and the preview act as the system: they span every user) --------------------------

    def plan(self, *, horizon_days: int, notice_days: int, batch: int = 500) -> Iterator[Planned]:
        """Every file due before now + horizon_days, page by page (each page one query: a run over 100k files never
        reads them in one go)."""
        after = 0
        while True:
            page = _plan(self.conn, horizon_days=horizon_days, notice_days=notice_days, after_id=after, limit=batch)
            yield from page
            if len(page) < batch:
                return
            after = page[-1].id

    def read_plan(self, *, notice_days: int, batch: int = 500) -> Plan:
        """The pass's plan, read as the system (it spans every user's files): the job, the dry run and the preview
        all read this, so what a dry run lists as due is what a run deletes."""
        plan = Plan([], [], [], [])
        with as_system(self.conn):
            for item in self.plan(horizon_days=notice_days, notice_days=notice_days, batch=batch):
                if item.hold_uuid is not None:
                    plan.held.append(item)
                    continue
                (plan.due if item.deletable else plan.waiting).append(item)
                if notice_days > 0 and not item.deletable and not item.noticed:
                    plan.to_notify.append(item)
        return plan

    def record_notice(self, media_file_id: int, due_at: datetime) -> bool:
        """True when this is the first notice for the file and due date (then the owner is to be told)."""
        return _record_notice(self.conn, media_file_id=media_file_id, due_at=due_at) is not None

    def delete_files(self, ids: list[int]) -> list[Deleted]:
        """Delete these files unless a hold stops one now; the rows of each go by cascade."""
        return _delete_files(self.conn, ids=ids)

    def audit_older_than(self, days: int) -> int:
        return _audit_older_than(self.conn, days=days)

    def file_schedule(self, actor: Actor, uuid: UUID) -> FileSchedule:
        """The file's due date and hold, for its owner (Forbidden for whoever else may read it, else NotFound)."""
        found = _file_schedule(self.conn, uuid=uuid, **actor.scope())
        if found is None:
            access.require(self.conn, actor, access.OWNER, file_uuid=uuid)
            raise NotFound("file not found")
        return found

    # -- policies ---------------------------------------------------------------------------------------------------

    def instance_policy(self) -> InstancePolicy:
        return _instance_policy(self.conn)

    def set_instance_policy(self, actor: Actor, days: int | None) -> InstancePolicy:
        return _set_instance_policy(self.conn, days=checked_days(days, "default_days"), actor_id=actor.id)

    def collection_policy(self, actor: Actor, uuid: UUID) -> CollectionPolicy:
        found = _collection_policy(self.conn, uuid=uuid, **actor.scope())
        if found is None:
            raise NotFound("collection not found")
        return found

    def set_collection_policy(self, actor: Actor, uuid: UUID, days: int | None) -> CollectionPolicy:
        """The collection's owner (or an administrator's all-files view) sets it; NotFound for anyone else."""
        found = _set_collection_policy(self.conn, uuid=uuid, days=checked_days(days, "days"), **actor.scope())
        if found is None:
            self.collection_policy(actor, uuid)  # NotFound when it cannot even read it
            raise Forbidden("only the collection's owner sets its retention policy", "days")
        return found

    # -- legal holds: administrators only (web/retention.py), run as the system: they reach every user's objects

    def place_hold(
        self, actor: Actor, *, file_uuid: UUID | None, collection_uuid: UUID | None, reason: str
    ) -> tuple[Hold, str]:
        """A hold on exactly one file or collection; (the hold, the held object's name). Conflict (from the schema's
        unique index) when one is active on it already."""
        if (file_uuid is None) == (collection_uuid is None):
            raise Invalid("name exactly one of file_uuid and collection_uuid", "file_uuid")
        cleaned = trimmed(reason, "reason", MAX_REASON, "a hold's reason")
        with as_system(self.conn):
            return self._place_hold(actor, file_uuid, collection_uuid, cleaned)

    def _place_hold(
        self, actor: Actor, file_uuid: UUID | None, collection_uuid: UUID | None, reason: str
    ) -> tuple[Hold, str]:
        if file_uuid is not None:
            file = _file_id(self.conn, uuid=file_uuid)
            if file is None:
                raise NotFound("file not found", "file_uuid")
            ids = {"media_file_id": file.id, "collection_id": None}
            name = file.name
        else:
            collection = _collection_id(self.conn, uuid=collection_uuid)
            if collection is None:
                raise NotFound("collection not found", "collection_uuid")
            ids = {"media_file_id": None, "collection_id": collection.id}
            name = collection.name
        return _place_hold(self.conn, reason=reason, actor_id=actor.id, **ids), name

    def release_hold(self, actor: Actor, uuid: UUID) -> Hold:
        with as_system(self.conn):
            lifted = _release_hold(self.conn, uuid=uuid, actor_id=actor.id)
        if lifted is None:
            raise NotFound("no active hold with this id")
        return lifted

    def holds(self, *, active_only: bool, limit: int = 500) -> list[Hold]:
        with as_system(self.conn):
            return _list_holds(self.conn, active_only=active_only, limit=limit)

    # -- queueing the runs (jobs/retention.py; as the system) -------------------------------------------------------

    def run_wanted(self, task_type: str, interval_seconds: float) -> bool:
        """True when no run waits or runs and none was queued in the last `interval_seconds`; holds a transaction
        lock so that several workers' maintenance decide one at a time."""
        _queue_lock(self.conn)
        return bool(_run_wanted(self.conn, task_type=task_type, interval=interval_seconds))

    def task_owner(self) -> int | None:
        """The user the runs' tasks are filed under: the first active administrator (None: there is none)."""
        owner: int | None = _task_owner(self.conn)
        return owner
