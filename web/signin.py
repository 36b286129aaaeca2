"""The end of every sign-in, whatever proved who the person is: a password, an OpenID provider, a directory.

    token = finish_signin(ctx, user, method="password", kind="browser")

issues the token (recorded with how, with what and from where, for the person's list of sessions) and writes the
success on the audit trail in the same transaction. A failed attempt is recorded with `signin_refused`, apart from
the request's transaction, which the refusal rolls back. Step 19's second factor is asked for here, between the
first factor and the token, for every method that needs it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any, Literal

from redis.exceptions import RedisError

from repo.instance_settings import InstanceSettings
from repo.two_factor import TwoFactorRepository
from repo.users import User, UserRepository
from web.audit_trail import audit, client_address, record_apart, user_agent
from web.endpoint import Ctx
from web.errors import Forbidden, ServiceUnavailable, TooManyRequests, Unauthorized
from web.lockout import check_not_locked, clear_failures, record_failure

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


# --- Step 19: the second factor, between the first factor and finish_signin -----------------------------------------
# Every password-based sign-in (a password of ours, a directory's) passes here after its first factor: the API in one
# request (`pass_second_factor`, the code in the same body), the browser in two (web/ui/two_factor.py keeps a short
# pending state between the password form and the code form, then calls `verify_second_factor`). OpenID Connect
# sign-ins trust the provider's own second factor and do not come here.

SecondFactorNeed = Literal["none", "code", "enrol"]
ENROL_WHERE = "/signin"


class SecondFactorRefused(Unauthorized):
    """401 naming the field the second factor goes in (`otp` or `recovery_code`)."""

    def __init__(self, detail: str, field: str = "otp") -> None:
        super().__init__(detail)
        self.field = field


class EnrolmentNeeded(Forbidden):
    """403: two factors are required of this account and it has none set up."""


def second_factor_need(ctx: Ctx, user: User) -> SecondFactorNeed:
    """`code`: the account has two factors on; `enrol`: they are required of it (by an administrator, for the account
    or for everyone) and it has none yet; `none`: the password alone signs in."""
    state = TwoFactorRepository(ctx.conn, ctx.services.master_key).state(user.id)
    if state is not None and state.enabled:
        return "code"
    required = (state is not None and state.required) or InstanceSettings(ctx.conn).two_factor_required()
    return "enrol" if required else "none"


def verify_second_factor(
    ctx: Ctx, user: User, *, method: str, otp: str | None = None, recovery_code: str | None = None
) -> str:
    """Check a code (a TOTP code, else a recovery code) of `user`, who has passed `method`; which kind was used.
    Wrong codes are counted and locked out like passwords (apart from them: web/lockout.py), a code is used once;
    every outcome is on the audit trail."""
    kind = "recovery_code" if recovery_code and not otp else "totp"
    field = "recovery_code" if kind == "recovery_code" else "otp"
    redis, subject = ctx.services.redis, str(user.uuid)
    try:
        check_not_locked(redis, subject, scope="second_factor")
    except TooManyRequests:
        signin_refused(ctx, kind, user=user, reason="locked", outcome="refused", first_factor=method)
        raise
    factors = TwoFactorRepository(ctx.conn, ctx.services.master_key)
    verdict: str
    if kind == "recovery_code":
        verdict = factors.use_recovery_code(user.id, recovery_code or "")
    else:
        verdict = factors.check_code(user.id, otp or "")
    if verdict != "ok":
        locked_for = record_failure(redis, subject, scope="second_factor")
        reason = {
            "replayed": "this code was used already: wait for the next one your app shows",
            "used": "this recovery code was used already: each works once",
        }.get(verdict, "wrong code" if kind == "totp" else "wrong recovery code")
        signin_refused(ctx, kind, user=user, reason=reason, first_factor=method, locked_for=locked_for)
        raise SecondFactorRefused(reason, field)
    clear_failures(redis, subject, scope="second_factor")
    details: dict[str, Any] = {"first_factor": method}
    state = factors.state(user.id) if kind == "recovery_code" else None
    if state is not None:
        details["recovery_codes_left"] = state.recovery_left
    audit(ctx, f"signin.{kind}", object_type="user", object_id=user.uuid, details=details, actor_id=user.id)
    return kind


def pass_second_factor(
    ctx: Ctx, user: User, *, method: str, otp: str | None = None, recovery_code: str | None = None
) -> None:
    """The API's second step, in the same request as the first: nothing to do for an account without two factors;
    401 naming `otp` when a code is needed and none came; 403 when two factors are required and none are set up."""
    need = second_factor_need(ctx, user)
    if need == "none":
        return
    if need == "enrol":
        signin_refused(ctx, "totp", user=user, reason="two factors required, none set up", outcome="refused")
        raise EnrolmentNeeded(
            "this account must sign in with two factors and has none set up yet: sign in on the web page "
            f"{ENROL_WHERE}, which sets them up, then send `otp` with your password here",
            "otp",
        )
    if not otp and not recovery_code:
        signin_refused(ctx, "totp", user=user, reason="no code given", first_factor=method)
        raise SecondFactorRefused(
            "this account signs in with two factors: send `otp`, the 6-digit code your authenticator app shows, "
            "or one of your `recovery_code`s"
        )
    verify_second_factor(ctx, user, method=method, otp=otp, recovery_code=recovery_code)


# The browser's pending state between the two steps: a random nonce in a cookie (HMAC-signed, so a forged one is
# refused before Redis is asked) naming a record in Redis that binds it to the account, the first factor's method
# and where to go next; it lives PENDING_SECONDS and is taken (deleted) by the sign-in it completes: used once.
PENDING_COOKIE = "opentr_second_factor"
PENDING_SECONDS = 300


@dataclass(frozen=True, slots=True)
class Pending:
    nonce: str
    user_id: int
    method: str
    target: str


def _pending_key(nonce: str) -> str:
    return "opentr:signin:pending:" + hashlib.sha256(nonce.encode()).hexdigest()


def _pending_mac(ctx: Ctx, nonce: str) -> str:
    key = hmac.new(ctx.services.master_key, b"opentr second factor pending v1", hashlib.sha256).digest()
    return hmac.new(key, nonce.encode(), hashlib.sha256).hexdigest()


def begin_pending(ctx: Ctx, user: User, *, method: str, target: str) -> str:
    """Record that `user` passed `method`; the cookie value that carries the browser to the second step."""
    nonce = secrets.token_urlsafe(32)
    record = json.dumps({"user_id": user.id, "method": method, "target": target})
    try:
        ctx.services.redis.set(_pending_key(nonce), record, ex=PENDING_SECONDS)
    except RedisError as exc:
        raise ServiceUnavailable("sign-in is unavailable while Redis is down") from exc
    return f"{nonce}.{_pending_mac(ctx, nonce)}"


def read_pending(ctx: Ctx, cookie: str | None) -> Pending | None:
    """The pending sign-in a cookie names, while it lasts; None for none, a forged, an expired or a used one."""
    nonce, _, mac = (cookie or "").rpartition(".")
    if not nonce or not hmac.compare_digest(_pending_mac(ctx, nonce).encode(), mac.encode("utf-8", "replace")):
        return None
    try:
        raw = ctx.services.redis.get(_pending_key(nonce))
    except RedisError as exc:
        raise ServiceUnavailable("sign-in is unavailable while Redis is down") from exc
    if raw is None:
        return None
    record = json.loads(raw)
    return Pending(nonce, int(record["user_id"]), str(record["method"]), str(record["target"]))


def take_pending(ctx: Ctx, pending: Pending) -> bool:
    """Use the pending state up: True for the one request that deletes it (a second, concurrent one gets False)."""
    try:
        return bool(ctx.services.redis.delete(_pending_key(pending.nonce)))
    except RedisError as exc:
        raise ServiceUnavailable("sign-in is unavailable while Redis is down") from exc
