"""The signed-in user's notifications: a page of them, marking them read, and which kinds to receive."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, RootModel, StrictBool

from repo.errors import Invalid
from repo.notifications import KINDS, NotificationRepository
from web.endpoint import Ctx, Router
from web.fields import QueryBool

router = Router("notifications")
MAX_MARKED = 1000


class NotificationQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    unread_only: QueryBool = False
    limit: int = Field(default=50, ge=1, le=200)
    cursor: UUID | None = Field(default=None, description="next_cursor of the previous page")


class NotificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    uuid: UUID
    kind: str
    title: str
    message: str
    data: dict[str, Any]
    progress: float | None
    file_uuid: UUID | None = Field(validation_alias="media_file_uuid")
    task_id: str | None
    created_at: datetime
    read_at: datetime | None


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    next_cursor: UUID | None
    unread_count: int


class MarkReadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    uuids: list[UUID] | None = Field(default=None, max_length=MAX_MARKED, description="absent: every notification")


class MarkedOut(BaseModel):
    marked: int


def _preferences_schema(schema: dict[str, Any]) -> None:
    schema.clear()
    schema.update(
        type="object",
        properties={kind: {"type": "boolean"} for kind in KINDS},
        additionalProperties=False,
        description="kind → whether to receive it in the app; kinds not named stay as they are",
    )


class PreferencesIn(RootModel[dict[str, StrictBool]]):
    """Kind → whether to receive it in the app; kinds not named stay as they are."""

    model_config = ConfigDict(json_schema_extra=_preferences_schema)
    root: dict[str, StrictBool] = Field(max_length=len(KINDS))


@router.get("/api/notifications", query=NotificationQuery, response=NotificationPage)
def list_notifications(ctx: Ctx, query: NotificationQuery) -> NotificationPage:
    """Your notifications, newest first, with how many are unread."""
    repository = NotificationRepository(ctx.conn)
    rows = repository.list(ctx.actor, unread_only=query.unread_only, limit=query.limit + 1, cursor=query.cursor)
    items = rows[: query.limit]
    return NotificationPage(
        items=[NotificationOut.model_validate(row) for row in items],
        next_cursor=items[-1].uuid if len(rows) > query.limit else None,
        unread_count=repository.unread_count(ctx.actor),
    )


@router.post("/api/notifications/read", body=MarkReadIn, response=MarkedOut)
def mark_read(ctx: Ctx, body: MarkReadIn) -> MarkedOut:
    """Mark these notifications read (none named: all of them)."""
    return MarkedOut(marked=NotificationRepository(ctx.conn).mark_read(ctx.actor, body.uuids))


@router.get("/api/notifications/preferences", response=dict[str, bool])
def get_preferences(ctx: Ctx) -> dict[str, bool]:
    """Which kinds of notification you receive in the app."""
    return NotificationRepository(ctx.conn).preferences(ctx.actor)


@router.put("/api/notifications/preferences", body=PreferencesIn, response=dict[str, bool])
def put_preferences(ctx: Ctx, body: PreferencesIn) -> dict[str, bool]:
    """Turn kinds of notification on or off; answers with every kind."""
    unknown = [kind for kind in body.root if kind not in KINDS]
    if unknown:
        raise Invalid(f"unknown notification kind {unknown[0]!r}; expected one of {', '.join(KINDS)}", unknown[0])
    repository = NotificationRepository(ctx.conn)
    for kind, in_app in body.root.items():
        repository.set_preference(ctx.actor, kind, in_app)
    return repository.preferences(ctx.actor)
