"""A person's own second factor (the API of the settings page's "Two factors"), and what an administrator requires.

    POST /api/users/me/two-factor/start     a new secret: its base32 text, its otpauth:// URI and a QR code of it
    POST /api/users/me/two-factor/confirm   {otp}: a code made from it turns two factors on; ten recovery codes, once
    POST /api/users/me/two-factor/recovery-codes  {otp | password}: ten new recovery codes, the old ones void
    POST /api/users/me/two-factor/disable   {otp | password}: off (refused while an administrator requires them)

A change needs proof that the person is there, not just their session: a current code or the password, each guessed
as slowly as at a sign-in (web/lockout.py). Each change is on the audit trail.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import segno
from pydantic import BaseModel, ConfigDict, Field

from credentials import passwords
from repo import statements as s
from repo.errors import Conflict
from repo.instance_settings import TWO_FACTOR_REQUIRED, InstanceSettings
from repo.two_factor import Enrolment, TwoFactorRepository
from repo.users import Credentials, User
from web.audit_trail import audit, record_apart
from web.endpoint import Ctx, Router
from web.errors import TooManyRequests
from web.lockout import check_not_locked, clear_failures, record_failure

router = Router("two-factor")
_credentials = s.one("users.credentials_by_id", Credentials)


class TwoFactorOut(BaseModel):
    enabled: bool
    enabled_at: datetime | None
    required: bool = Field(description="two factors are required of this account: it cannot turn them off")
    required_by: Literal["account", "instance"] | None = Field(
        description="who requires them: an administrator for this account, or for everyone"
    )
    recovery_codes_left: int


class EnrolmentOut(BaseModel):
    secret: str = Field(description="base32, for typing into an authenticator app")
    otpauth_uri: str = Field(description="otpauth://totp/...: what the QR code holds")
    qr_svg: str = Field(description="the QR code as an SVG data: URI")


class ConfirmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    otp: str = Field(min_length=1, max_length=20, description="the 6-digit code the app shows for the new secret")


class ProofIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    otp: str | None = Field(default=None, max_length=20, description="a current code")
    password: str | None = Field(default=None, max_length=256, description="or the account's password")


class RecoveryCodesOut(BaseModel):
    recovery_codes: list[str] = Field(description="shown this once; each works once instead of a code")


def factors(ctx: Ctx) -> TwoFactorRepository:
    return TwoFactorRepository(ctx.conn, ctx.services.master_key)


def status(ctx: Ctx, user: User) -> TwoFactorOut:
    state = factors(ctx).state(user.id)
    by: Literal["account", "instance"] | None = None
    if state is not None and state.required:
        by = "account"
    elif InstanceSettings(ctx.conn).two_factor_required():
        by = "instance"
    return TwoFactorOut(
        enabled=bool(state and state.enabled),
        enabled_at=state.enabled_at if state else None,
        required=by is not None,
        required_by=by,
        recovery_codes_left=state.recovery_left if state and state.enabled else 0,
    )


def qr_svg(uri: str) -> str:
    return str(segno.make(uri, error="m").svg_data_uri(scale=5))


def enrolment_out(enrolment: Enrolment) -> EnrolmentOut:
    return EnrolmentOut(secret=enrolment.secret, otpauth_uri=enrolment.uri, qr_svg=qr_svg(enrolment.uri))


def prove(ctx: Ctx, user: User, proof: ProofIn, action: str) -> None:
    """The person is there: a current code (counted like a sign-in's second factor) or the password (counted like a
    sign-in's). Missing or wrong: 409 naming the field, a rule between fields (as for a new password); a wrong or
    locked one is on the audit trail as a refusal of `action`."""
    redis = ctx.services.redis

    def refused(reason: str) -> None:
        record_apart(
            ctx.services,
            ctx.request,
            action,
            outcome="refused",
            actor_id=user.id,
            object_type="user",
            object_id=user.uuid,
            details={"reason": reason},
        )

    try:
        if proof.otp:
            check_not_locked(redis, str(user.uuid), scope="second_factor")
        elif proof.password:
            check_not_locked(redis, user.email)
    except TooManyRequests:
        refused("locked")
        raise
    if proof.otp:
        if factors(ctx).check_code(user.id, proof.otp) != "ok":
            record_failure(redis, str(user.uuid), scope="second_factor")
            refused("wrong code")
            raise Conflict("that code is not the current one (or was used already): type what your app shows", "otp")
        clear_failures(redis, str(user.uuid), scope="second_factor")
        return
    if proof.password:
        if not passwords.verify_password(proof.password, _credentials(ctx.conn, id=user.id).hashed_password):
            record_failure(redis, user.email)
            refused("wrong password")
            raise Conflict("the password is wrong", "password")
        return
    raise Conflict("give a current code (`otp`) or your password (`password`) to change your two factors", "otp")


def start(ctx: Ctx, user: User) -> Enrolment:
    return factors(ctx).start(user.id, user.email)


def confirm(ctx: Ctx, user: User, code: str) -> list[str]:
    codes = factors(ctx).confirm(user.id, code)
    audit(ctx, "two_factor.enable", object_type="user", object_id=user.uuid, actor_id=user.id)
    return codes


def new_codes(ctx: Ctx, user: User, proof: ProofIn) -> list[str]:
    state = factors(ctx).state(user.id)
    if state is None or not state.enabled:
        raise Conflict("two factors are off for this account: turn them on first", "otp")
    prove(ctx, user, proof, "two_factor.recovery_codes")
    codes = factors(ctx).new_recovery_codes(user.id)
    audit(ctx, "two_factor.recovery_codes", object_type="user", object_id=user.uuid)
    return codes


def disable(ctx: Ctx, user: User, proof: ProofIn) -> None:
    now = status(ctx, user)
    if not now.enabled:
        raise Conflict("two factors are already off for this account", "otp")
    if now.required:
        raise Conflict(
            "an administrator requires two factors of this account"
            + (" (of everyone)" if now.required_by == "instance" else "")
            + ": they cannot be turned off; set them up again with a new secret instead",
            "otp",
        )
    prove(ctx, user, proof, "two_factor.disable")
    factors(ctx).disable(user.id)
    audit(ctx, "two_factor.disable", object_type="user", object_id=user.uuid)


@router.get("/api/users/me/two-factor", response=TwoFactorOut)
def get_two_factor(ctx: Ctx) -> TwoFactorOut:
    """Whether two factors are on for the signed-in account, required of it, and how many recovery codes are left."""
    assert ctx.user is not None
    return status(ctx, ctx.user)


@router.post("/api/users/me/two-factor/start", response=EnrolmentOut)
def start_two_factor(ctx: Ctx) -> EnrolmentOut:
    """Start setting up two factors: a new secret for an authenticator app (on once a code confirms it)."""
    assert ctx.user is not None
    return enrolment_out(start(ctx, ctx.user))


@router.post("/api/users/me/two-factor/confirm", body=ConfirmIn, response=RecoveryCodesOut)
def confirm_two_factor(ctx: Ctx, body: ConfirmIn) -> RecoveryCodesOut:
    """Turn two factors on with a code of the new secret; the ten recovery codes, shown this once."""
    assert ctx.user is not None
    return RecoveryCodesOut(recovery_codes=confirm(ctx, ctx.user, body.otp))


@router.post(
    "/api/users/me/two-factor/recovery-codes",
    body=ProofIn,
    response=RecoveryCodesOut,
    raises=(TooManyRequests,),
)
def new_recovery_codes(ctx: Ctx, body: ProofIn) -> RecoveryCodesOut:
    """Ten new recovery codes (a current code or the password needed); the old ones stop working."""
    assert ctx.user is not None
    return RecoveryCodesOut(recovery_codes=new_codes(ctx, ctx.user, body))


@router.post("/api/users/me/two-factor/disable", body=ProofIn, response=TwoFactorOut, raises=(TooManyRequests,))
def disable_two_factor(ctx: Ctx, body: ProofIn) -> TwoFactorOut:
    """Turn two factors off (a current code or the password needed; refused while they are required)."""
    assert ctx.user is not None
    disable(ctx, ctx.user, body)
    return status(ctx, ctx.user)


# --- administrators: what is required of whom ------------------------------------------------------------------------


class InstanceSettingsOut(BaseModel):
    two_factor_required: bool = Field(description="two factors required of everyone who signs in with a password")


class InstanceSettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    two_factor_required: bool | None = None


def require_of(ctx: Ctx, user: User, required: bool) -> bool:
    """An administrator requires (or no longer requires) two factors of one account; whether that changed anything
    (the caller records the change with the rest of the account's update: web/admin.py)."""
    state = factors(ctx).state(user.id)
    if bool(state and state.required) == required:
        return False
    factors(ctx).set_required(user.id, required)
    return True


def instance_settings(ctx: Ctx) -> InstanceSettingsOut:
    return InstanceSettingsOut(two_factor_required=InstanceSettings(ctx.conn).two_factor_required())


def update_instance_settings(ctx: Ctx, body: InstanceSettingsIn) -> InstanceSettingsOut:
    settings = InstanceSettings(ctx.conn)
    if body.two_factor_required is not None:
        before = settings.two_factor_required()
        settings.put(ctx.actor, TWO_FACTOR_REQUIRED, body.two_factor_required)
        audit(
            ctx,
            "settings.update",
            object_type="instance_setting",
            object_id=TWO_FACTOR_REQUIRED,
            details={"before": before, "after": body.two_factor_required},
        )
    return instance_settings(ctx)


@router.get("/api/admin/instance-settings", response=InstanceSettingsOut, admin=True)
def get_instance_settings(ctx: Ctx) -> InstanceSettingsOut:
    """What applies to the whole instance (administrators)."""
    return instance_settings(ctx)


@router.put("/api/admin/instance-settings", body=InstanceSettingsIn, response=InstanceSettingsOut, admin=True)
def put_instance_settings(ctx: Ctx, body: InstanceSettingsIn) -> InstanceSettingsOut:
    """Change what applies to the whole instance: absent fields stay as they are; each change is audited."""
    return update_instance_settings(ctx, body)
