"""Retention and legal hold over the API (README: Retention and legal hold; the rule: repo/retention.py).

Administrators set the instance default, place and lift holds, and preview what the next run deletes; a
collection's owner sets its policy; a file's owner reads its due date and hold. Every change is on the audit trail
(`settings.update`, `retention.hold`, `retention.release`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from repo.database import as_system
from repo.errors import Forbidden, NotFound
from repo.retention import (
    MAX_DAYS,
    MAX_REASON,
    CollectionPolicy,
    FileSchedule,
    Hold,
    InstancePolicy,
    Planned,
    RetentionRepository,
)
from web.audit_trail import audit
from web.endpoint import Ctx, Router

router = Router("retention")

Days = int | None


class InstancePolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    default_days: Days = Field(
        ge=1, le=MAX_DAYS, description="delete recordings this many days after upload; null keeps them"
    )


class InstancePolicyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    default_days: int | None
    updated_at: datetime
    updated_by_email: str | None
    notice_days: int = Field(description="owners are told this many days before (OPENTR_RETENTION_NOTICE_DAYS)")
    audit_retention_days: int = Field(description="the audit log's own retention; 0 keeps it forever")
    interval_seconds: float = Field(description="how often a run is queued (OPENTR_RETENTION_INTERVAL_SECONDS)")


class PlannedOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    file_uuid: UUID
    title: str
    owner_id: int
    owner_email: str
    due_at: datetime
    policy: dict[str, object]
    hold: UUID | None = Field(description="the legal hold that keeps it (null: none)")
    hold_reason: str | None
    noticed: bool


class PreviewOut(BaseModel):
    due: list[PlannedOut] = Field(description="deleted by the next run")
    held: list[PlannedOut] = Field(description="due now or within the notice period, kept by a legal hold")
    waiting: list[PlannedOut] = Field(description="due within the notice period, or its owner told too recently")
    to_notify: int = Field(description="owners the next run tells")
    audit_rows_to_purge: int


class HoldIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    file_uuid: UUID | None = None
    collection_uuid: UUID | None = None
    reason: str = Field(min_length=1, max_length=MAX_REASON)


class HoldOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    uuid: UUID
    object_type: Literal["file", "collection"]
    object_uuid: UUID | None
    object_name: str | None
    owner_email: str | None
    reason: str
    placed_by_email: str | None
    placed_at: datetime
    released_by_email: str | None
    released_at: datetime | None


class HoldsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    active: bool = Field(default=True, description="false: the lifted holds too (history)")


class CollectionPolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    days: Days = Field(ge=1, le=MAX_DAYS, description="delete its owner's recordings in it this many days after upload")


class CollectionPolicyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    uuid: UUID
    days: int | None
    hold_uuid: UUID | None
    hold_reason: str | None
    hold_placed_at: datetime | None


class FileScheduleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    uuid: UUID
    days: int | None
    source: str | None
    collection_uuid: UUID | None
    collection_name: str | None
    due_at: datetime | None = Field(description="when the recording is deleted (null: no policy applies)")
    hold_uuid: UUID | None
    hold_reason: str | None
    hold_placed_at: datetime | None


def _instance(ctx: Ctx, policy: InstancePolicy) -> InstancePolicyOut:
    settings = ctx.services.settings
    return InstancePolicyOut(
        default_days=policy.default_days,
        updated_at=policy.updated_at,
        updated_by_email=policy.updated_by_email,
        notice_days=settings.opentr_retention_notice_days,
        audit_retention_days=settings.opentr_audit_retention_days,
        interval_seconds=settings.opentr_retention_interval_seconds,
    )


def _planned(item: Planned) -> PlannedOut:
    return PlannedOut(
        file_uuid=item.uuid,
        title=item.title,
        owner_id=item.owner_id,
        owner_email=item.owner_email,
        due_at=item.due_at,
        policy=item.policy(),
        hold=item.hold_uuid,
        hold_reason=item.hold_reason,
        noticed=item.noticed,
    )


@router.get("/api/admin/retention", response=InstancePolicyOut, admin=True)
def instance_policy(ctx: Ctx) -> InstancePolicyOut:
    """The instance's default retention period and the settings the runs follow."""
    return _instance(ctx, RetentionRepository(ctx.conn).instance_policy())


@router.put("/api/admin/retention", body=InstancePolicyIn, response=InstancePolicyOut, admin=True)
def set_instance_policy(ctx: Ctx, body: InstancePolicyIn) -> InstancePolicyOut:
    """Set the instance default ("delete recordings N days after upload"; null: keep them)."""
    return _instance(ctx, change_instance_policy(ctx, body.default_days))


def change_instance_policy(ctx: Ctx, days: int | None) -> InstancePolicy:
    """Set and audit the instance default (the API and the admin page)."""
    retention = RetentionRepository(ctx.conn)
    before = retention.instance_policy().default_days
    policy = retention.set_instance_policy(ctx.actor, days)
    audit(
        ctx,
        "settings.update",
        object_type="retention",
        object_id="default",
        details={"setting": "retention.default_days", "from": before, "to": policy.default_days},
    )
    return policy


@router.get("/api/admin/retention/preview", response=PreviewOut, admin=True)
def preview(ctx: Ctx) -> PreviewOut:
    """The dry run: what the next run deletes, what a hold keeps, what is due soon; nothing is deleted."""
    return read_preview(ctx)


def read_preview(ctx: Ctx) -> PreviewOut:
    """The dry run under this process's settings (the API and the admin page)."""
    settings = ctx.services.settings
    retention = RetentionRepository(ctx.conn)
    plan = retention.read_plan(notice_days=settings.opentr_retention_notice_days, batch=settings.opentr_retention_batch)
    days = settings.opentr_audit_retention_days
    with as_system(ctx.conn):  # the trail's old rows, whoever's
        purge = retention.audit_older_than(days) if days > 0 else 0
    return PreviewOut(
        due=[_planned(p) for p in plan.due],
        held=[_planned(p) for p in plan.held],
        waiting=[_planned(p) for p in plan.waiting],
        to_notify=len(plan.to_notify),
        audit_rows_to_purge=purge,
    )


@router.get("/api/admin/holds", query=HoldsQuery, response=list[HoldOut], admin=True)
def list_holds(ctx: Ctx, query: HoldsQuery) -> list[Hold]:
    """Legal holds, the active ones first (with `active=false`, the lifted ones too)."""
    return RetentionRepository(ctx.conn).holds(active_only=query.active)


@router.post("/api/admin/holds", body=HoldIn, response=HoldOut, status=201, admin=True, raises=(NotFound,))
def place_hold(ctx: Ctx, body: HoldIn) -> Hold:
    """Place a legal hold on one file or one collection: retention deletes none of its recordings until lifted."""
    return place(ctx, body)


def place(ctx: Ctx, body: HoldIn) -> Hold:
    """Place and audit a hold (the API and the admin page)."""
    hold, name = RetentionRepository(ctx.conn).place_hold(
        ctx.actor, file_uuid=body.file_uuid, collection_uuid=body.collection_uuid, reason=body.reason
    )
    audit(
        ctx,
        "retention.hold",
        object_type=hold.object_type,
        object_id=hold.object_uuid,
        details={"hold": str(hold.uuid), "reason": hold.reason, "name": name},
    )
    return hold


@router.delete("/api/admin/holds/{hold_uuid}", response=HoldOut, admin=True)
def release_hold(ctx: Ctx) -> Hold:
    """Lift a legal hold (it stays listed as history); its recordings follow their policies again."""
    return lift(ctx, ctx.uuid("hold_uuid"))


def lift(ctx: Ctx, hold_uuid: UUID) -> Hold:
    """Lift and audit a hold (the API and the admin page)."""
    hold = RetentionRepository(ctx.conn).release_hold(ctx.actor, hold_uuid)
    audit(
        ctx,
        "retention.release",
        object_type=hold.object_type,
        object_id=hold.object_uuid,
        details={"hold": str(hold.uuid), "reason": hold.reason, "name": hold.object_name},
    )
    return hold


@router.get("/api/collections/{uuid}/retention", response=CollectionPolicyOut)
def collection_policy(ctx: Ctx) -> CollectionPolicy:
    """The collection's retention policy and legal hold, for whoever may read it."""
    return RetentionRepository(ctx.conn).collection_policy(ctx.actor, ctx.uuid("uuid"))


@router.put("/api/collections/{uuid}/retention", body=CollectionPolicyIn, response=CollectionPolicyOut)
def set_collection_policy(ctx: Ctx, body: CollectionPolicyIn) -> CollectionPolicy:
    """Set the collection's policy (its owner, or an administrator with `?view=all`): its owner's recordings in it
    are deleted this many days after upload, unless a shorter period applies; null removes the policy."""
    return change_collection_policy(ctx, ctx.uuid("uuid"), body.days)


def change_collection_policy(ctx: Ctx, uuid: UUID, days: int | None) -> CollectionPolicy:
    """Set and audit a collection's policy (the API and the collection page)."""
    actor = ctx.actor  # an administrator reaches another's collection in the all-files view (?view=all)
    retention = RetentionRepository(ctx.conn)
    before = retention.collection_policy(actor, uuid).days
    policy = retention.set_collection_policy(actor, uuid, days)
    audit(
        ctx,
        "settings.update",
        object_type="collection",
        object_id=uuid,
        details={"setting": "retention.days", "from": before, "to": policy.days},
    )
    return retention.collection_policy(actor, uuid)


@router.get("/api/files/{uuid}/retention", response=FileScheduleOut, raises=(Forbidden,))
def file_schedule(ctx: Ctx) -> FileSchedule:
    """When the recording is due for deletion and which policy says so, and any legal hold (its owner)."""
    return RetentionRepository(ctx.conn).file_schedule(ctx.actor, ctx.uuid("uuid"))
