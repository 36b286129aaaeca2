"""Accounts and sessions: register, token (OAuth2 password form or JSON), logout, me.

Failed logins are counted per account in Redis; from the fifth failure on, the account is locked for a doubling
interval (1 s, 2 s, 4 s ... up to 15 min), so guessing a password is slow no matter how many clients try
(web/lockout.py, shared with second-factor codes).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request

from repo.errors import Conflict, Forbidden, Invalid
from repo.users import User, UserRepository
from web import directory_signin
from web.endpoint import Ctx, Router, bearer_token, read_body, refuse_nul, request_token
from web.errors import ApiError, ServiceUnavailable, TooManyRequests, Unauthorized, Unprocessable
from web.fields import Email

# The lockout (web/lockout.py, shared with second-factor codes), re-exported: other modules count failures here.
from web.lockout import check_not_locked as check_not_locked
from web.lockout import clear_failures as clear_failures
from web.lockout import record_failure as record_failure
from web.openapi import without_nul
from web.signin import EnrolmentNeeded, finish_signin, pass_second_factor, signin_refused

router = Router("auth")


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    uuid: UUID
    email: str
    full_name: str
    role: str
    is_active: bool
    created_at: datetime
    last_login_at: datetime | None


class RegisterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Email
    password: str = Field(min_length=8, max_length=256)
    full_name: str = Field(default="", max_length=200)


class TokenIn(BaseModel):
    username: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=256)
    # Step 19: the second factor of an account that has two factors on (web/signin.py)
    otp: str | None = Field(default=None, max_length=20, description="the 6-digit code of the authenticator app")
    recovery_code: str | None = Field(default=None, max_length=40, description="a one-time recovery code instead")


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"


class MeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    full_name: str | None = Field(default=None, max_length=200)
    email: Email | None = None
    password: str | None = Field(default=None, min_length=8, max_length=256)
    current_password: str | None = Field(
        default=None, max_length=256, description="required to change the email or the password"
    )


@router.post("/api/auth/register", body=RegisterIn, response=UserOut, status=201, auth=False)
def register(ctx: Ctx, body: RegisterIn) -> User:
    """Create an account."""
    return UserRepository(ctx.conn).create(body.email, body.password, body.full_name)


async def token_credentials(request: Request) -> TokenIn:
    """OAuth2 password form (`username`, `password`, urlencoded) or the same fields as JSON."""
    raw = await read_body(request, 64 * 1024)
    data: Any
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        data = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    else:
        try:
            data = json.loads(raw or b"{}")
        except ValueError:
            raise ApiError("body: not valid JSON or form data", "body") from None
    if not isinstance(data, dict):
        raise Unprocessable("body: expected username and password", "body")
    refuse_nul({name: data[name] for name in TokenIn.model_fields if name in data}, "body")
    return TokenIn.model_validate(data)


TOKEN_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {
            kind: {"schema": without_nul(TokenIn.model_json_schema())}
            for kind in ("application/x-www-form-urlencoded", "application/json")
        },
    }
}


@router.post(
    "/api/auth/token",
    body=TokenIn,
    body_parser=token_credentials,
    response=TokenOut,
    auth=False,
    openapi=TOKEN_OPENAPI,
    raises=(Unauthorized, TooManyRequests, ServiceUnavailable, Forbidden, EnrolmentNeeded),  # 503, 403: directory
)
def token(ctx: Ctx, body: TokenIn) -> TokenOut:
    """Exchange email and password (and the second factor, when the account has two factors on) for a bearer token."""
    user, method = password_signin(ctx, body.username, body.password)
    pass_second_factor(ctx, user, method=method, otp=body.otp, recovery_code=body.recovery_code)  # step 19
    return TokenOut(access_token=finish_signin(ctx, user, method=method, kind="api"))


def password_signin(ctx: Ctx, username: str, password: str) -> tuple[User, str]:
    """The account these credentials open and the method that proved it ("password" or "ldap:<name>"), for the API
    and the sign-in page alike; Unauthorized or TooManyRequests otherwise (ServiceUnavailable when a directory
    cannot be asked), each on the audit trail (a failure that locks the account says for how long)."""
    redis = ctx.services.redis
    way = directory_signin.route(ctx, username)  # directory sign-in: the local password alone, or directories first
    try:
        check_not_locked(redis, username)
    except TooManyRequests:
        signin_refused(ctx, way.method, username=username, reason="locked", outcome="refused")
        raise
    # -- directory sign-in (web/directory_signin.py): counted before the directory is asked
    if way.directories:
        signed_in = directory_signin.directory_signin(ctx, way, username, password, record_failure(redis, username))
        clear_failures(redis, username)
        return signed_in
    # -- end of directory sign-in
    user = UserRepository(ctx.conn).authenticate_password(username, password) if username and password else None
    if user is None:
        locked_for = record_failure(redis, username) if username else 0
        signin_refused(ctx, "password", username=username, reason="wrong email or password", locked_for=locked_for)
        raise Unauthorized("wrong email or password")
    clear_failures(redis, username)
    return user, "password"


@router.post("/api/auth/logout", status=204)
def logout(ctx: Ctx) -> None:
    """Revoke the bearer token this request carries."""
    token = bearer_token(ctx.request)
    if token:
        UserRepository(ctx.conn).revoke_token(token)


@router.get("/api/users/me", response=UserOut)
def me(ctx: Ctx) -> User:
    """The signed-in user."""
    assert ctx.user is not None
    return ctx.user


@router.put("/api/users/me", body=MeIn, response=UserOut)
def update_me(ctx: Ctx, body: MeIn) -> User:
    """Change name, email or password (the last two need `current_password`, guessed as slowly as a sign-in)."""
    return update_account(ctx, body)


def update_account(ctx: Ctx, body: MeIn) -> User:
    """The account change of the JSON route and the settings page: `current_password` is guessed as slowly as a
    sign-in (the same lockout), and a missing or wrong one is a rule between fields (409), not a bad value. A new
    password signs out every other session and token of the account; the one that changed it stays."""
    assert ctx.user is not None
    conn, redis, actor, email = ctx.conn, ctx.services.redis, ctx.actor, ctx.user.email
    if body.current_password:
        check_not_locked(redis, email)
    try:
        return UserRepository(conn).update_me(
            actor,
            full_name=body.full_name,
            email=body.email,
            password=body.password,
            current_password=body.current_password,
            keep_token=request_token(ctx.request),
        )
    except Invalid as exc:
        if exc.field == "current_password" and body.current_password:
            record_failure(redis, email)
        if exc.field == "current_password":  # missing or wrong: a rule between fields, not a malformed value
            raise Conflict(exc.detail, exc.field) from None
        raise
