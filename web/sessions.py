"""Browser sessions: a signed cookie carrying a server-side bearer token, and the CSRF token tied to it.

The cookie holds a token from the same `auth_tokens` table the JSON API uses (so signing out, expiry and an
administrator deactivating the account or resetting its password apply to browsers too), plus an HMAC so a forged
or truncated cookie is rejected before any database lookup. It is `HttpOnly` (scripts never see the token),
`SameSite=Lax` (other sites' forms and fetches do not carry it) and `Secure` outside dev.

CSRF: every form and every fetch that changes data carries a token, `HMAC(key, "csrf" | session token)`, in a
`csrf` form field or an `X-CSRF-Token` header. Before signing in there is no session, so the sign-in and register
forms are tied to a random `opentr_pre` cookie instead (login CSRF). The JSON API accepts the session cookie as well
(the player's `<audio src>` and the page scripts use it), and then demands the header on every unsafe method;
bearer-token requests never need it, as no browser attaches a bearer token on its own.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from starlette.requests import HTTPConnection
from starlette.responses import Response

from repo.users import TOKEN_TTL_SECONDS
from web.errors import Forbidden

SESSION_COOKIE = "opentr_session"
PRE_SESSION_COOKIE = "opentr_pre"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _key(connection: HTTPConnection) -> bytes:
    master: bytes = connection.app.state.services.master_key
    return hmac.new(master, b"opentr browser sessions v1", hashlib.sha256).digest()


def _mac(connection: HTTPConnection, purpose: str, value: str) -> str:
    return hmac.new(_key(connection), f"{purpose}|{value}".encode(), hashlib.sha256).hexdigest()


def _same(expected: str, supplied: str) -> bool:
    """Constant-time equality of two texts; any text compares (hmac's own refuses non-ASCII `str` with a
    TypeError, which a forged cookie or form field would turn into a 500)."""
    return hmac.compare_digest(expected.encode(), supplied.encode())


def session_token(connection: HTTPConnection) -> str | None:
    """The bearer token inside a correctly signed session cookie, else None."""
    raw = connection.cookies.get(SESSION_COOKIE, "")
    token, _, signature = raw.rpartition(".")
    if not token or not _same(_mac(connection, "session", token), signature):
        return None
    return token


def same_origin(connection: HTTPConnection) -> bool:
    """A WebSocket handshake is not covered by SameSite everywhere: accept the cookie only from our own pages."""
    origin = connection.headers.get("origin", "")
    return bool(origin) and origin.partition("://")[2] == connection.headers.get("host")


def csrf_token(connection: HTTPConnection, pre_session: str | None = None) -> str:
    """The token forms and scripts must send back; bound to the session, or to the pre-session nonce."""
    token = session_token(connection)
    if token:
        return _mac(connection, "csrf", token)
    nonce = pre_session or connection.cookies.get(PRE_SESSION_COOKIE, "")
    return _mac(connection, "csrf-pre", nonce) if nonce else ""


def require_csrf(connection: HTTPConnection, supplied: str | None) -> None:
    expected = csrf_token(connection)
    if not expected or not supplied or not _same(expected, supplied):
        raise Forbidden("this form has expired or did not come from this site; reload the page and try again")


def _secure(connection: HTTPConnection) -> bool:
    return bool(connection.app.state.services.settings.is_production)


def _set(response: Response, connection: HTTPConnection, name: str, value: str, max_age: int) -> None:
    options: dict[str, Any] = {"httponly": True, "samesite": "lax", "secure": _secure(connection), "path": "/"}
    response.set_cookie(name, value, max_age=max_age, **options)


def start(response: Response, connection: HTTPConnection, token: str) -> None:
    _set(response, connection, SESSION_COOKIE, f"{token}.{_mac(connection, 'session', token)}", TOKEN_TTL_SECONDS)
    response.delete_cookie(PRE_SESSION_COOKIE, path="/")


def end(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")


def pre_session_nonce(connection: HTTPConnection) -> str:
    """The browser's anonymous-form nonce, or a new one (`keep_pre_session` stores it with the response)."""
    return connection.cookies.get(PRE_SESSION_COOKIE) or secrets.token_urlsafe(24)


def keep_pre_session(response: Response, connection: HTTPConnection, nonce: str) -> None:
    if connection.cookies.get(PRE_SESSION_COOKIE) != nonce:
        _set(response, connection, PRE_SESSION_COOKIE, nonce, 3600)
