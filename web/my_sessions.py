"""A person's sessions: every browser session and API token of their account, and ending one or all the others.

    GET    /api/users/me/sessions          newest first; `current`: the one this request came with
    DELETE /api/users/me/sessions/{uuid}   end one (its token stops working at once)
    DELETE /api/users/me/sessions          end every one but the current

Each session ended is on the audit trail (`session.end`).
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from repo.identities import Identity, IdentityRepository
from repo.sessions import Session, SessionRepository
from web.audit_trail import audit
from web.endpoint import Ctx, Router, request_token

router = Router("sessions")


class SessionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    uuid: UUID
    kind: str = Field(description="browser (a signed-in web page) or api (a bearer token)")
    method: str = Field(description="how it signed in: password, oidc:<provider>, ldap:<provider>, register")
    user_agent: str | None
    address: str | None = Field(description="the address it signed in from")
    created_at: datetime
    last_used_at: datetime | None = Field(description="to the minute")
    expires_at: datetime
    current: bool = Field(description="the session this request came with")


class EndedOut(BaseModel):
    ended: int


def sessions_of(ctx: Ctx) -> list[Session]:
    return SessionRepository(ctx.conn).list(ctx.actor, request_token(ctx.request))


def end_one(ctx: Ctx, uuid: UUID) -> None:
    ended = SessionRepository(ctx.conn).end(ctx.actor, uuid)
    audit(
        ctx, "session.end", object_type="session", object_id=uuid, details={"kind": ended.kind, "method": ended.method}
    )


def end_others(ctx: Ctx) -> int:
    count = SessionRepository(ctx.conn).end_others(ctx.actor, request_token(ctx.request))
    audit(ctx, "session.end", object_type="session", object_id="all-others", details={"ended": count})
    return count


class IdentityOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    provider: str = Field(description="`oidc:<name>` or `ldap:<name>`, as configured")
    subject: str = Field(description="the provider's id of the person: an ID token's `sub`, a directory entry's id")
    email: str | None
    created_at: datetime
    last_login_at: datetime | None


def identities_of(ctx: Ctx) -> list[Identity]:
    assert ctx.user is not None
    return IdentityRepository(ctx.conn).identities_of(ctx.user.id)


@router.get("/api/users/me/identities", response=list[IdentityOut])
def my_identities(ctx: Ctx) -> list[Identity]:
    """The identity providers and directories this account signs in through (linked at a sign-in)."""
    return identities_of(ctx)


@router.get("/api/users/me/sessions", response=list[SessionOut])
def list_sessions(ctx: Ctx) -> list[Session]:
    """The signed-in account's live sessions and API tokens, newest first."""
    return sessions_of(ctx)


@router.delete("/api/users/me/sessions/{uuid}", status=204)
def end_session(ctx: Ctx) -> None:
    """End one session or API token of the account (this one too: it signs this client out)."""
    end_one(ctx, ctx.uuid("uuid"))


@router.delete("/api/users/me/sessions", response=EndedOut)
def end_other_sessions(ctx: Ctx) -> EndedOut:
    """End every session and API token of the account but the one this request came with."""
    return EndedOut(ended=end_others(ctx))
