"""The audit trail (table `audit_log`, migration 0017): who did what, to which object, when, from where.

Append-only in the database itself: the application role has no UPDATE, DELETE or TRUNCATE on it, and a trigger
refuses UPDATE and DELETE to every role, except the DELETE of the trail's own retention (`purge_older_than`).

Where to write an event decides whether it survives what it records:
* an action that succeeded is recorded in its own transaction (`AuditLog(conn).record`), so the row exists exactly
  when the action committed;
* a refusal (a wrong password, a forged token, a reused code) rolls its transaction back with the error, so it is
  recorded apart, in a transaction of its own (web/audit_trail.py's `record_apart`).

Action names are dotted, lower case, subject first: `signin.password`, `signin.oidc`, `share.create`,
`public_link.use`, `file.delete`, `admin.user_update`, `settings.update`, `retention.delete`... ; `ACTIONS` lists
them for the filters of the admin page (an unknown one is still stored: the CHECK only guards the form).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal
from uuid import UUID

from psycopg.types.json import Jsonb

from repo import statements as s
from repo.cursor import Position
from repo.database import Connection, as_system
from repo.rows import inet_or_none

Outcome = Literal["success", "failure", "refused"]
MAX_DETAIL_TEXT: Final = 500  # characters of any one text value in `details` (a user agent, a typed user name)

# The actions the platform writes, for the admin page's suggestions (an action not listed is stored all the same).
ACTIONS: Final = (
    "signin.password",
    "signin.oidc",
    "signin.ldap",
    "signin.totp",
    "signin.recovery_code",
    "password_reset.request",
    "password_reset.use",
    "session.end",
    "share.create",
    "share.update",
    "share.delete",
    "public_link.create",
    "public_link.revoke",
    "public_link.use",
    "export.transcript",
    "export.media",
    "file.delete",
    "admin.user_create",
    "admin.user_update",
    "admin.user_delete",
    "admin.all_files_view",
    "settings.update",
    "llm_config.create",
    "llm_config.update",
    "llm_config.delete",
    "llm_config.activate",
    "prompt.create",
    "prompt.update",
    "prompt.delete",
    "prompt.activate",
    "group.member_add",
    "group.member_update",
    "group.member_remove",
    "audit.export",
    "retention.delete",
    "account.export",
    "account.delete",
)
OUTCOMES: Final = ("success", "failure", "refused")
MAX_PAGE: Final = 1000

_record = s.execute("audit.record")
_purge_older_than = s.rowcount("audit.purge_older_than")


@dataclass(frozen=True, slots=True)
class Event:
    """What is recorded. `actor_id` None: nobody signed in (a failed sign-in names what was typed in `details`)."""

    action: str
    outcome: Outcome = "success"
    actor_id: int | None = None
    actor_email: str | None = None  # None: read from the account
    object_type: str | None = None
    object_id: str | None = None
    address: str | None = None
    details: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Entry:
    """One row of the trail as an administrator reads it: `actor_email` as recorded then, `actor_exists` whether the
    account is still there (the trail outlives it)."""

    id: int
    at: datetime
    actor_id: int | None
    actor_email: str | None
    actor_uuid: UUID | None
    actor_exists: bool
    action: str
    outcome: str
    object_type: str | None
    object_id: str | None
    address: str | None
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """What an administrator narrows the trail to; None: any. `action_prefix` (`signin.`) matches every action it
    starts; `network` is an address or a CIDR range (`203.0.113.0/24`); `until` is inclusive."""

    actor_uuid: UUID | None = None
    actor_email: str | None = None
    action: str | None = None
    action_prefix: str | None = None
    outcome: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    network: str | None = None
    since: datetime | None = None
    until: datetime | None = None


_search = s.many("audit.search", Entry)


def _bounded(value: Any) -> Any:
    """Details as given, every text cut to MAX_DETAIL_TEXT characters and NUL removed (an attacker's user name must
    neither bloat the trail nor fail its INSERT)."""
    if isinstance(value, str):
        return value.replace("\x00", "")[:MAX_DETAIL_TEXT]
    if isinstance(value, dict):
        return {str(k)[:80]: _bounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_bounded(v) for v in value[:50]]
    return value


class AuditLog:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def record(self, event: Event) -> None:
        """Append one event in this connection's transaction."""
        _record(
            self.conn,
            actor_id=event.actor_id,
            actor_email=event.actor_email,
            action=event.action,
            outcome=event.outcome,
            object_type=event.object_type,
            object_id=None if event.object_id is None else str(event.object_id)[:200],
            address=inet_or_none(event.address),
            details=Jsonb(_bounded(event.details or {})),
        )

    def search(self, where: AuditFilter, *, after: Position | None = None, limit: int = 100) -> list[Entry]:
        """One page, newest first, after `after` (the previous page's last row). Row-level security decides what
        the reader sees: everything for an administrator."""
        return _search(
            self.conn,
            actor_uuid=where.actor_uuid,
            actor_email=where.actor_email,
            action=where.action,
            action_prefix=where.action_prefix,
            outcome=where.outcome,
            object_type=where.object_type,
            object_id=where.object_id,
            network=where.network,
            since=where.since,
            until=where.until,
            before_at=after.at if after else None,
            before_id=after.key if after else None,
            limit=max(1, min(limit, MAX_PAGE)),
        )

    def purge_older_than(self, days: int) -> int:
        """The trail's own retention: delete what is older than `days`; how many rows went."""
        with as_system(self.conn):
            self.conn.execute("SELECT set_config('opentr.audit_purge', 'on', true)")
            try:
                return _purge_older_than(self.conn, days=days)
            finally:
                self.conn.execute("SELECT set_config('opentr.audit_purge', '', true)")
