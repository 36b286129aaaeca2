"""Writing the audit trail from a request (repo/audit.py says what goes in it and why).

    audit(ctx, "share.create", object_type="file", object_id=str(file_uuid), details={"with": email})

records in the request's own transaction: the row exists exactly when the action committed. A refusal — a wrong
password, a forged ID token, a reused recovery code — ends in an error that rolls the request's transaction back,
so it is written apart, on a connection of its own, before the error is raised:

    record_apart(ctx.services, ctx.request, "signin.password", outcome="failure", details={"username": typed})

A trail that cannot be written apart (the database is down) must not turn a refusal into a 500: it is logged and
the refusal goes on.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import HTTPConnection

from repo.audit import AuditLog, Event, Outcome
from web.endpoint import Ctx
from web.services import Services

log = logging.getLogger("opentr.audit")


def client_address(connection: HTTPConnection) -> str | None:
    """Where the request came from, as the server saw it (behind a proxy: uvicorn's --proxy-headers and
    --forwarded-allow-ips decide what this is)."""
    return connection.client.host if connection.client else None


def user_agent(connection: HTTPConnection) -> str | None:
    """The User-Agent as the client wrote it: Starlette decodes header bytes as Latin-1, so an agent in UTF-8 (a
    phone's model name in Japanese) would show garbled in the person's list of sessions; undecodable bytes stay
    as Latin-1 read them."""
    raw = next((value for name, value in connection.headers.raw if name == b"user-agent"), None)
    if not raw:
        return None
    try:
        agent = raw.decode("utf-8")
    except UnicodeDecodeError:
        agent = raw.decode("latin-1")
    return agent.replace("\x00", "")[:500] or None


def audit(
    ctx: Ctx,
    action: str,
    *,
    outcome: Outcome = "success",
    object_type: str | None = None,
    object_id: object | None = None,
    details: dict[str, Any] | None = None,
    actor_id: int | None = None,
) -> None:
    """Record with the request's work (Ctx.record: in its transaction), as the caller (or `actor_id`: someone just
    signed in)."""
    who = actor_id if actor_id is not None else (ctx.user.id if ctx.user is not None else None)
    ctx.record(
        Event(
            action=action,
            outcome=outcome,
            actor_id=who,
            object_type=object_type,
            object_id=None if object_id is None else str(object_id),
            address=client_address(ctx.request),
            details=details,
        )
    )


def record_apart(
    services: Services,
    connection: HTTPConnection,
    action: str,
    *,
    outcome: Outcome = "failure",
    actor_id: int | None = None,
    object_type: str | None = None,
    object_id: object | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Record in a transaction of its own, kept whatever happens to the request's; never raises."""
    event = Event(
        action=action,
        outcome=outcome,
        actor_id=actor_id,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        address=client_address(connection),
        details=details,
    )
    try:
        with services.db.apart() as conn:
            AuditLog(conn).record(event)
    except Exception:  # the refusal itself must still be answered
        log.exception("could not write to the audit log: %s %s", action, outcome)
