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
from typing import Any, Final, Literal

from psycopg.types.json import Jsonb

from repo import statements as s
from repo.database import Connection, as_system
from repo.rows import inet_or_none

Outcome = Literal["success", "failure", "refused"]
MAX_DETAIL_TEXT: Final = 500  # characters of any one text value in `details` (a user agent, a typed user name)

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

    def purge_older_than(self, days: int) -> int:
        """The trail's own retention: delete what is older than `days`; how many rows went."""
        with as_system(self.conn):
            self.conn.execute("SELECT set_config('opentr.audit_purge', 'on', true)")
            try:
                return _purge_older_than(self.conn, days=days)
            finally:
                self.conn.execute("SELECT set_config('opentr.audit_purge', '', true)")
