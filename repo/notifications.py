"""Persisted per-user notifications, announced with pg_notify on CHANNEL when their transaction commits; and the
progress of a job, announced on the same channel but never stored.

A notification says how something ended, one per outcome: a transcript ready (`transcription`, with what to know
about it: warnings, speakers not told apart), speakers recognised from the user's profiles (`speakers`), a summary
ready (`summary`), something failed (`error`: processing, an import, a summary), `system` messages, and someone
shared a file, a collection or a speaker profile with the user (`shared`, repo/shares.py). The steps
on the way there (metadata read, waveform computed, 40 % transcribed…) are progress: they update the file's page
and the library live, and would only bury the outcomes in the list (one upload used to leave nine).

A notification is personal: only its user reads it, admins included. The pg_notify payload is
{"user_id": <int>, "uuid": "<notification uuid>", "kind": "<kind>"}; the web process listens on CHANNEL, reads the
row by uuid for that user and pushes it to the user's WebSocket connections. A progress event's payload is
{"event": "progress", "user_id", "file_uuid", "task_id", "step", "progress"}: ids, a step's words and a fraction,
never a file name; it is pushed as it is.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal, get_args
from uuid import UUID

from psycopg.types.json import Jsonb

from repo import statements as s
from repo.database import Connection, as_system
from repo.errors import Invalid, NotFound
from repo.rows import Actor

CHANNEL: Final = "opentr_notifications"
Kind = Literal["transcription", "speakers", "summary", "error", "system", "shared"]
KINDS: Final = tuple(get_args(Kind))
PROGRESS_EVENT: Final = "progress"


@dataclass(frozen=True, slots=True)
class Notification:
    id: int
    uuid: UUID
    user_id: int
    kind: str
    title: str
    message: str
    data: dict[str, Any]
    progress: float | None
    media_file_id: int | None
    media_file_uuid: UUID | None
    task_id: str | None
    created_at: datetime
    read_at: datetime | None


@dataclass(frozen=True, slots=True)
class Preference:
    kind: str
    in_app: bool


_notify = s.one_or_none("notifications.notify", Notification)
_list_for_user = s.many("notifications.list_for_user", Notification)
_get = s.one_or_none("notifications.get", Notification)
_unread_count = s.scalar("notifications.unread_count", int)
_mark_read = s.rowcount("notifications.mark_read")
_preferences = s.many("notifications.preferences", Preference)
_set_preference = s.one("notifications.set_preference", Preference)
_announce_progress = s.execute("notifications.announce_progress")


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise Invalid(f"kind must be one of {', '.join(KINDS)}", "kind")


class NotificationRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def notify(
        self,
        user_id: int,
        kind: str,
        title: str,
        message: str = "",
        data: dict[str, Any] | None = None,
        progress: float | None = None,
        media_file_id: int | None = None,
        task_id: str | None = None,
    ) -> Notification | None:
        """Store and announce; None when the user turned this kind off (then nothing is stored or sent).

        Written as the system: a notification is for its addressee whoever causes it (a share, a job), and the
        statement reads the addressee's preference and the stored row back, which row-level security shows only to
        the addressee."""
        _check_kind(kind)
        with as_system(self.conn):
            return self._store(user_id, kind, title, message, data, progress, media_file_id, task_id)

    def _store(
        self,
        user_id: int,
        kind: str,
        title: str,
        message: str,
        data: dict[str, Any] | None,
        progress: float | None,
        media_file_id: int | None,
        task_id: str | None,
    ) -> Notification | None:
        return _notify(
            self.conn,
            channel=CHANNEL,
            user_id=user_id,
            kind=kind,
            title=title,
            message=message,
            data=Jsonb(data or {}),
            progress=progress,
            media_file_id=media_file_id,
            task_id=task_id,
        )

    def progress(
        self,
        user_id: int,
        step: str,
        progress: float | None,
        media_file_id: int | None = None,
        task_id: str | None = None,
    ) -> None:
        """Announce a job's step to its owner's open pages when the transaction commits; nothing is stored and no
        preference applies (it is not a notification)."""
        _announce_progress(
            self.conn,
            channel=CHANNEL,
            event=PROGRESS_EVENT,
            user_id=user_id,
            step=step[:200],
            progress=progress,
            media_file_id=media_file_id,
            task_id=task_id,
        )

    def list(
        self, actor: Actor, *, unread_only: bool = False, limit: int = 50, cursor: UUID | None = None
    ) -> builtins.list[Notification]:
        """Newest first; pass the last row's uuid as `cursor` for the next page."""
        return _list_for_user(self.conn, actor_id=actor.id, unread_only=unread_only, limit=limit, cursor=cursor)

    def get(self, actor: Actor, uuid: UUID) -> Notification:
        found = _get(self.conn, uuid=uuid, actor_id=actor.id)
        if found is None:
            raise NotFound("notification not found")
        return found

    def unread_count(self, actor: Actor) -> int:
        return _unread_count(self.conn, actor_id=actor.id)

    def mark_read(self, actor: Actor, uuids: builtins.list[UUID] | None = None) -> int:
        """Mark these (None: all) of the actor's unread notifications read; returns how many changed."""
        return _mark_read(self.conn, actor_id=actor.id, uuids=uuids)

    def preferences(self, actor: Actor) -> dict[str, bool]:
        """Every kind, with the default (on) for kinds never set."""
        return {p.kind: p.in_app for p in _preferences(self.conn, actor_id=actor.id, kinds=list(KINDS))}

    def set_preference(self, actor: Actor, kind: str, in_app: bool) -> Preference:
        _check_kind(kind)
        return _set_preference(self.conn, actor_id=actor.id, kind=kind, in_app=in_app)
