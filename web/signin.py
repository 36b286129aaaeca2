"""The end of every sign-in, whatever proved who the person is: a password, an OpenID provider, a directory.

    token = finish_signin(ctx, user, method="password", kind="browser")

issues the token (recorded with how, with what and from where, for the person's list of sessions) and writes the
success on the audit trail in the same transaction. A failed attempt is recorded with `signin_refused`, apart from
the request's transaction, which the refusal rolls back. Step 19's second factor is asked for here, between the
first factor and the token, for every method that needs it.
"""

from __future__ import annotations

from typing import Any, Literal

from repo.users import User, UserRepository
from web.audit_trail import audit, client_address, record_apart, user_agent
from web.endpoint import Ctx

TokenKind = Literal["api", "browser"]


def signin_action(method: str) -> str:
    """`password` → signin.password; `oidc:corp` → signin.oidc (the provider goes in the details)."""
    return f"signin.{method.partition(':')[0]}"


def finish_signin(ctx: Ctx, user: User, *, method: str, kind: TokenKind) -> str:
    """A new token for `user`, who has just proved who they are by `method`; the success is on the audit trail."""
    token = UserRepository(ctx.conn).issue_token(
        user,
        kind=kind,
        method=method,
        user_agent=user_agent(ctx.request),
        address=client_address(ctx.request),
    )
    details: dict[str, Any] = {"via": kind}
    if ":" in method:
        details["provider"] = method.partition(":")[2]
    audit(ctx, signin_action(method), object_type="user", object_id=user.uuid, details=details, actor_id=user.id)
    return token


def signin_refused(
    ctx: Ctx,
    method: str,
    *,
    username: str | None = None,
    reason: str,
    outcome: Literal["failure", "refused"] = "failure",
    user: User | None = None,
    **details: Any,
) -> None:
    """A sign-in that did not succeed, kept on the audit trail whatever the request's transaction does: `failure` for
    wrong credentials, `refused` for what was refused before they were even checked (a lockout, a forged token)."""
    found: dict[str, Any] = {"reason": reason, **details}
    if username is not None:
        found["username"] = username
    if ":" in method:
        found["provider"] = method.partition(":")[2]
    record_apart(
        ctx.services,
        ctx.request,
        signin_action(method),
        outcome=outcome,
        actor_id=user.id if user is not None else None,
        object_type="user" if user is not None else None,
        object_id=user.uuid if user is not None else None,
        details=found,
    )
