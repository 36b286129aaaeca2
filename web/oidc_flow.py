"""What a sign-in through an OpenID provider keeps between its two requests, and after it (web/ui/oidc.py runs it).

Between the redirect to the provider and its return, the `state` names a Redis entry holding the nonce, the PKCE
verifier and where to go next: single use (GETDEL), ten minutes. The state is also bound to the browser that began
the sign-in: a cookie holds a MAC of it, so a state begun in another browser (an attacker's, sent to a victim to
sign them in to the attacker's account: login CSRF) is refused.

After it, the ID token is kept under a hash of the session token, as long as the session may live, so signing out
can end the provider's session too (`id_token_hint`).

`GET /api/auth/providers` lists the configured providers for API clients and scripts.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from redis.exceptions import RedisError
from starlette.requests import HTTPConnection
from starlette.responses import Response

from repo.users import TOKEN_TTL_SECONDS
from web.endpoint import Ctx, Router
from web.errors import ServiceUnavailable

router = Router("auth")
STATE_TTL_SECONDS = 600
STATE_COOKIE = "opentr_oidc_state"
STATE_COOKIE_PATH = "/signin/oidc"


@dataclass(frozen=True)
class Pending:
    """A sign-in sent to a provider, waiting for its return."""

    provider: str
    nonce: str
    code_verifier: str
    next: str
    redirect_uri: str


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _state_key(state: str) -> str:
    return f"opentr:oidc:state:{_digest(state)}"


def _logout_key(session_token: str) -> str:
    return f"opentr:oidc:logout:{_digest(session_token)}"


def _binding(connection: HTTPConnection, state: str) -> str:
    master: bytes = connection.app.state.services.master_key
    key = hmac.new(master, b"opentr oidc state v1", hashlib.sha256).digest()
    return hmac.new(key, state.encode(), hashlib.sha256).hexdigest()


def _redis_down(exc: RedisError) -> ServiceUnavailable:
    return ServiceUnavailable("sign-in is unavailable while Redis is down; try again shortly")


def begin(ctx: Ctx, provider: str, next_path: str, redirect_uri: str) -> tuple[str, Pending]:
    """A new state and what it stands for, kept for ten minutes."""
    state = secrets.token_urlsafe(32)
    pending = Pending(provider, secrets.token_urlsafe(32), secrets.token_urlsafe(48), next_path, redirect_uri)
    try:
        ctx.services.redis.set(_state_key(state), json.dumps(pending.__dict__), ex=STATE_TTL_SECONDS)
    except RedisError as exc:
        raise _redis_down(exc) from exc
    return state, pending


def bind(response: Response, connection: HTTPConnection, state: str) -> None:
    """Tie the state to this browser (the cookie comes back on the provider's top-level redirect: SameSite=Lax)."""
    secure = bool(connection.app.state.services.settings.is_production)
    response.set_cookie(
        STATE_COOKIE,
        _binding(connection, state),
        max_age=STATE_TTL_SECONDS,
        path=STATE_COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=secure,
    )


def unbind(response: Response) -> None:
    response.delete_cookie(STATE_COOKIE, path=STATE_COOKIE_PATH)


def bound_here(connection: HTTPConnection, state: str) -> bool:
    cookie = connection.cookies.get(STATE_COOKIE, "")
    return bool(cookie) and hmac.compare_digest(cookie.encode(), _binding(connection, state).encode())


def take(ctx: Ctx, state: str) -> Pending | None:
    """What the state stands for, once: a used, expired or invented state is None."""
    try:
        raw = ctx.services.redis.getdel(_state_key(state))
    except RedisError as exc:
        raise _redis_down(exc) from exc
    if raw is None:
        return None
    return Pending(**json.loads(raw))


def remember_for_signout(ctx: Ctx, session_token: str, provider: str, id_token: str) -> None:
    """Kept for the provider's sign-out; losing it (Redis down) only means the provider's session outlives ours."""
    try:
        value = json.dumps({"provider": provider, "id_token": id_token})
        ctx.services.redis.set(_logout_key(session_token), value, ex=TOKEN_TTL_SECONDS)
    except RedisError:
        pass


def recall_for_signout(ctx: Ctx, session_token: str) -> tuple[str, str] | None:
    """(provider, id_token) of the session being ended, once."""
    try:
        raw = ctx.services.redis.getdel(_logout_key(session_token))
    except RedisError:
        return None
    if raw is None:
        return None
    found: dict[str, Any] = json.loads(raw)
    return str(found["provider"]), str(found["id_token"])


class ProviderOut(BaseModel):
    name: str
    label: str
    start_url: str


def start_path(name: str) -> str:
    return f"/signin/oidc/{name}"


@router.get("/api/auth/providers", response=list[ProviderOut], auth=False)
def providers(ctx: Ctx) -> list[ProviderOut]:
    """The OpenID providers a person may sign in with; a browser goes to `start_url` to begin."""
    base = str(ctx.request.base_url).rstrip("/")
    return [
        ProviderOut(name=p.name, label=p.label, start_url=f"{base}{start_path(p.name)}")
        for p in ctx.services.settings.opentr_oidc_providers
    ]
