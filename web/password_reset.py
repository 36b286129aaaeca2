"""Password reset by e-mail.

    POST /api/auth/password-reset          {email}: 202, the same answer whether an account has this address or not
    POST /api/auth/password-reset/confirm  {token, password}: the new password; every session of the account ends

The answer to a request never tells whether the address has an account: the same status, headers and text either
way, and the mail (the slow part) is sent after the answer, on a thread of its own, so its time does not show; what
differs is one small INSERT of the reset's hash, well inside the noise of a request.
Requests are limited per address they come from and per e-mail address typed (429 for both alike). The token in
the link is random, kept only as a hash, works once and expires (OPENTR_PASSWORD_RESET_TTL_SECONDS). Without SMTP
settings and OPENTR_PUBLIC_URL (the links' origin: never the request's Host, which anyone can forge) a request is
answered 503: nothing is pretended sent. A reset sets the password only: two factors stay as they are.
"""

from __future__ import annotations

import logging
import threading

from pydantic import BaseModel, ConfigDict, Field

from outbound.mail import MailError, MailServer, send_mail
from repo.errors import Gone, NotFound
from repo.password_resets import PasswordResetRepository
from repo.users import UserRepository
from web import rate_limits
from web.audit_trail import audit, client_address, record_apart
from web.endpoint import Ctx, Router
from web.errors import ServiceUnavailable, TooManyRequests
from web.fields import Email
from web.lockout import clear_failures

log = logging.getLogger("opentr.mail")
router = Router("auth")
PER_ADDRESS_PER_MINUTE = 10
PER_EMAIL_PER_MINUTE = 3
REQUESTED = (
    "If an account has this e-mail address, a link to choose a new password is on its way to it. "
    "The link works once, within {minutes} minutes."
)


class ResetRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Email


class ResetRequestOut(BaseModel):
    detail: str


class ResetConfirmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=8, max_length=256)


def mail_text(name: str, link: str, minutes: int) -> str:
    return (
        f"Hello {name},\n\n"
        "someone (you, we hope) asked to choose a new password for your account. To do so, open this link:\n\n"
        f"{link}\n\n"
        f"It works once, within {minutes} minutes. If you did not ask, ignore this mail: your password stays as it "
        "is.\n"
    )


def _send_later(server: MailServer, to: str, subject: str, text: str) -> None:
    def send() -> None:
        try:
            send_mail(server, to, subject, text)
        except MailError as exc:  # the person sees the same answer either way; the operator sees this
            log.warning("password reset mail not sent: %s", exc)

    threading.Thread(target=send, name="opentr-mail", daemon=True).start()


def request_reset(ctx: Ctx, email: str) -> str:
    """Mail a reset link to the account with `email`, if there is one; the answer, the same either way."""
    settings = ctx.services.settings
    server, origin = settings.mail_server, (settings.opentr_public_url or "").rstrip("/")
    if server is None or not origin:
        missing = "OPENTR_SMTP_HOST" if server is None else "OPENTR_PUBLIC_URL"
        raise ServiceUnavailable(
            f"password reset by e-mail is not available: this server's e-mail is not configured ({missing}); "
            "ask an administrator to set a new password"
        )
    address = client_address(ctx.request) or "unknown"
    rate_limits.check(
        ctx.services.redis,
        [
            (f"reset:address:{rate_limits.key_part(address)}", PER_ADDRESS_PER_MINUTE),
            (f"reset:email:{rate_limits.key_part(email.strip().lower())}", PER_EMAIL_PER_MINUTE),
        ],
        "password reset requests",
    )
    resets = PasswordResetRepository(ctx.conn)
    user = resets.account(email)
    minutes = settings.opentr_password_reset_ttl_seconds // 60
    if user is not None:
        token = resets.create(user, settings.opentr_password_reset_ttl_seconds, client_address(ctx.request))
        text = mail_text(user.full_name or user.email, f"{origin}/reset?token={token}", minutes)
        ctx.after_commit(lambda: _send_later(server, user.email, "Choose a new password", text))
    audit(
        ctx,
        "password_reset.request",
        outcome="success" if user is not None else "failure",
        object_type="user" if user is not None else None,
        object_id=user.uuid if user is not None else None,
        details={"email": email} if user is None else None,
        actor_id=user.id if user is not None else None,
    )
    return REQUESTED.format(minutes=minutes)


def confirm_reset(ctx: Ctx, token: str, password: str) -> None:
    """Set the new password; 404 for a token nobody issued, 410 for one used or expired (each on the trail)."""
    verdict, user_id = PasswordResetRepository(ctx.conn).use(token, password)
    if verdict != "ok":
        record_apart(
            ctx.services,
            ctx.request,
            "password_reset.use",
            outcome="refused",
            actor_id=user_id,
            object_type="user" if user_id is not None else None,
            details={"reason": verdict},
        )
    if verdict == "unknown":
        raise NotFound("this reset link is not valid: ask for a new one", "token")
    if verdict == "used":
        raise Gone("this reset link was used already: each works once; ask for a new one", "token")
    if verdict == "expired":
        raise Gone("this reset link has expired: ask for a new one", "token")
    assert user_id is not None
    user = UserRepository(ctx.conn).get_by_id(user_id)
    clear_failures(ctx.services.redis, user.email)  # a locked-out person's way back in
    audit(ctx, "password_reset.use", object_type="user", object_id=user.uuid, actor_id=user.id)


@router.post(
    "/api/auth/password-reset",
    body=ResetRequestIn,
    response=ResetRequestOut,
    status=202,
    auth=False,
    raises=(TooManyRequests, ServiceUnavailable),
)
def password_reset(ctx: Ctx, body: ResetRequestIn) -> ResetRequestOut:
    """Ask for a link to choose a new password; the same answer whether an account has the address or not."""
    return ResetRequestOut(detail=request_reset(ctx, body.email))


@router.post(
    "/api/auth/password-reset/confirm",
    body=ResetConfirmIn,
    status=204,
    auth=False,
    raises=(Gone, NotFound),
)
def password_reset_confirm(ctx: Ctx, body: ResetConfirmIn) -> None:
    """Choose a new password with the token of a reset link; every session of the account ends."""
    confirm_reset(ctx, body.token, body.password)
