"""How a page runs: the session from the cookie, CSRF on every POST, one transaction, HTML out, errors as sentences.

    @page("/files/{uuid}")
    def file_page(view: View) -> Response:
        detail = MediaFileRepository(view.conn).detail(view.actor, view.uuid("uuid"))
        return view.render("file.html", file=detail)

Handlers read and write through the same repositories as the JSON API, inside `Database.transaction()` in a
worker thread, exactly like `web.endpoint`. Whatever goes wrong becomes a page with one sentence and a way on
(sign in again, go back, the library): never a stack trace or JSON.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode
from uuid import UUID

import anyio
import jinja2
import psycopg
from markupsafe import Markup
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from repo.database import Connection
from repo.errors import Conflict, DataError, Invalid, NotFound, Unavailable
from repo.rows import Actor
from repo.users import User
from web import sessions
from web.endpoint import read_body
from web.errors import ApiError, Unauthorized, field_of
from web.services import Services

log = logging.getLogger("opentr.web.ui")
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
FORM_LIMIT = 256 * 1024
Handler = Callable[["View"], Response]
# Pages run only the scripts of this site (no inline script, so an injected <script> does nothing) and cannot be
# framed by another site (clickjacking); inline styles stay allowed for the talk-time bars.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "media-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def file_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else ""


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(duration=duration, file_size=file_size, when=when, urlquote=lambda v: quote(str(v), safe=""))
    env.globals["Markup"] = Markup
    return env


ENV = _environment()


@dataclass
class View:
    request: Request
    services: Services
    conn: Connection
    user: User | None
    form: dict[str, str] = field(default_factory=dict)
    csrf: str = ""

    @property
    def actor(self) -> Actor:
        if self.user is None:
            raise Unauthorized()
        return self.user.actor

    def uuid(self, name: str) -> UUID:
        try:
            return UUID(str(self.request.path_params.get(name, "")))
        except ValueError:
            raise NotFound("that page does not exist") from None

    def query(self, name: str) -> str:
        return self.request.query_params.get(name, "").strip()

    def field(self, name: str, *, required: bool = True, label: str | None = None) -> str:
        value = self.form.get(name, "").strip()
        if required and not value:
            raise Invalid(f"{label or name.replace('_', ' ').capitalize()}: please fill this in", name)
        return value

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        return html(self.request, template, status, user=self.user, csrf=self.csrf, **context)

    def redirect(self, url: str) -> RedirectResponse:
        return RedirectResponse(url, status_code=303)


def html(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("user", None)
    context.setdefault("csrf", "")
    body = ENV.get_template(template).render(request=request, path=request.url.path, **context)
    return HTMLResponse(body, status_code=status, headers=PAGE_HEADERS)


def local_next(target: str | None, default: str = "/") -> str:
    """Only paths of this site: `?next=https://evil.example` or `//evil.example` fall back to the default."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def sign_in_redirect(request: Request, expired: bool) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    query = {"next": target, **({"expired": "1"} if expired else {})}
    return RedirectResponse(f"/signin?{urlencode(query)}", status_code=303)


def error_page(request: Request, status: int, message: str, user: User | None = None) -> HTMLResponse:
    titles = {403: "Not allowed", 404: "Not found", 409: "Already there", 413: "Too large", 503: "Try again shortly"}
    back = local_next(_referer_path(request), "/") if request.method == "POST" else None
    return html(
        request,
        "error.html",
        status,
        user=user,
        title=titles.get(status, "That did not work"),
        message=message,
        back=back,
    )


def _referer_path(request: Request) -> str | None:
    referer = request.headers.get("referer", "")
    host = request.headers.get("host", "")
    prefix = f"{request.url.scheme}://{host}"
    return referer[len(prefix) :] if host and referer.startswith(prefix) else None


def _sentence(text: str) -> str:
    text = text.strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "?", "!")) else text + "."


class _Rollback(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def _run(handler: Handler, auth: bool, admin: bool, request: Request, form: dict[str, str]) -> Response:
    services: Services = request.app.state.services
    with services.db.transaction() as conn:
        user = sessions.cookie_user(request, conn)
        if auth and user is None:
            return sign_in_redirect(request, expired=sessions.SESSION_COOKIE in request.cookies)
        if admin and (user is None or user.role != "admin"):
            return error_page(request, 403, "This page is for administrators.", user)
        if request.method == "POST":
            try:
                sessions.require_csrf(request, form.get(sessions.CSRF_FIELD))
            except ApiError as exc:
                raise _Rollback(error_page(request, 403, _sentence(exc.detail), user)) from None
        view = View(request, services, conn, user, form, sessions.csrf_token(request))
        try:
            response = handler(view)
        except DataError as exc:
            status = {NotFound: 404, Conflict: 409, Invalid: 422, Unavailable: 503}.get(type(exc), 400)
            raise _Rollback(error_page(request, status, _sentence(exc.detail), user)) from None
        except ValidationError as exc:
            where = (field_of(exc) or "form").replace("_", " ")
            raise _Rollback(error_page(request, 422, _sentence(f"{where}: {exc.errors()[0]['msg']}"), user)) from None
        except ApiError as exc:
            raise _Rollback(error_page(request, exc.status, _sentence(exc.detail), user)) from None
        if response.status_code >= 400:
            raise _Rollback(response)
        return response


def page(
    path: str, *, methods: tuple[str, ...] = ("GET",), auth: bool = True, admin: bool = False
) -> Callable[[Handler], Route]:
    """Declare a page; the decorated function becomes a Starlette Route (collected by `web.ui.ROUTES`)."""

    def register(handler: Handler) -> Route:
        async def endpoint(request: Request) -> Response:
            form: dict[str, str] = {}
            try:
                if request.method == "POST":
                    raw = await read_body(request, FORM_LIMIT)
                    form = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
                return await anyio.to_thread.run_sync(partial(_run, handler, auth, admin, request, form))
            except _Rollback as rollback:
                return rollback.response
            except ApiError as exc:
                return error_page(request, exc.status, _sentence(exc.detail))
            except (psycopg.OperationalError, Unavailable):
                log.warning("database unavailable on %s %s", request.method, request.url.path)
                return error_page(request, 503, "The database is unavailable right now. Please try again shortly.")
            except Exception:
                log.exception("unhandled error on page %s %s", request.method, request.url.path)
                return error_page(request, 500, "Something went wrong on our side. Please try again.")

        return Route(path, endpoint, methods=list(methods), name=handler.__name__)

    return register
