"""How a page answers: HTML out, and every failure as a sentence with a way on. Pages run through the same pipeline
as the JSON API (web/pipeline.py), declared as Endpoints whose renderer is `HTML`:

    @page("/files/{uuid}")
    def file_page(view: View) -> Response:
        detail = MediaFileRepository(view.conn).detail(view.actor, view.uuid("uuid"))
        return view.render("file.html", file=detail)

So a page gets the API's transaction (READ ONLY on a read replica for a GET, read-your-writes after a form post,
deadlocks re-run), its error mapping and its authentication; it differs only here, in how it writes its answer
and its failures: a status page with one sentence and a way on (sign in again, go back, the library), never a
stack trace or JSON. A form's body is read into `view.form`; its `csrf` field is checked on every POST.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode
from uuid import UUID

import jinja2
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from asr.languages import language_name
from repo.errors import Invalid, NotFound
from repo.users import User
from web import sessions
from web.endpoint import VIEW_ALL, VIEW_PARAM, Ctx, Endpoint, Renderer
from web.errors import Problem, problem_of

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
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
SERVER_FAULT = "Something went wrong on our side. Please try again."


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
    env.filters.update(
        duration=duration,
        file_size=file_size,
        when=when,
        language=language_name,
        urlquote=lambda v: quote(str(v), safe=""),
    )
    env.globals["Markup"] = Markup
    return env


ENV = _environment()


class View(Ctx):
    """A page handler's context: the pipeline's Ctx (conn, actor, form) with what pages need besides."""

    @property
    def csrf(self) -> str:
        return sessions.csrf_token(self.request)

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

    def chosen(self, name: str, label: str) -> UUID:
        """A required form field naming one item of a list (a <select> of uuids). Nothing chosen says so in the same
        words: where the action cannot be undone (merges) the list starts on an empty "choose…" option."""
        try:
            return UUID(self.field(name, required=False, label=label))
        except ValueError:
            raise Invalid(f"{label}: choose one from the list", name) from None

    @property
    def in_all_files_view(self) -> bool:
        """This page was asked for in an admin's explicit all-files view (`?view=all`): what it links back to (its
        forms, the redirect after a post) stays in that view, else the admin's next step would answer 404."""
        user = self.user
        return bool(user and user.actor.is_admin and self.request.query_params.get(VIEW_PARAM) == VIEW_ALL)

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        scope = f"?{VIEW_PARAM}={VIEW_ALL}" if self.in_all_files_view else ""
        return html(self.request, template, status, user=self.user, csrf=self.csrf, scope=scope, **context)

    def redirect(self, url: str) -> RedirectResponse:
        return RedirectResponse(in_view(url) if self.in_all_files_view else url, status_code=303)


def in_view(url: str) -> str:
    """The address in the all-files view: `view=all` added to its query (before any #fragment)."""
    address, hash_, fragment = url.partition("#")
    if f"{VIEW_PARAM}={VIEW_ALL}" in address.partition("?")[2].split("&"):
        return url
    joiner = "&" if "?" in address else "?"
    return f"{address}{joiner}{VIEW_PARAM}={VIEW_ALL}{hash_}{fragment}"


def html(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("user", None)
    context.setdefault("csrf", "")
    # Appended to the page's form actions and media addresses: "?view=all" in an admin's all-files view (View.render)
    context.setdefault("scope", "")
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
    titles = {
        403: "Not allowed",
        404: "Not found",
        409: "Already there",
        410: "No longer available",
        413: "Too large",
        429: "Wait a moment",
        503: "Try again shortly",
    }
    back = local_next(_referer_path(request), "/") if request.method == "POST" else None
    return html(
        request,
        "error.html",
        status,
        user=user,
        csrf=sessions.csrf_token(request) if user else "",  # the header's sign-out form works from here too
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


def sentence_of(problem: Problem) -> str:
    """A failure as a person reads it: the field named as a label ("full name: ..."), as a sentence."""
    if not problem.expected:
        return SERVER_FAULT
    detail = str(problem.detail)
    if problem.field and detail.startswith(f"{problem.field}:"):
        detail = problem.field.replace("_", " ").replace(".", " ") + detail[len(problem.field) :]
    return _sentence(detail)


class HtmlRenderer(Renderer):
    """Pages: the handler's own response, and a failure as a page. The status is the API's for the same failure
    (web/errors.py's `problem_of`); only the words are written for a person: a field named as a label ("full
    name: ..."), a sentence, and a way on; an ended session is sent to sign in again instead."""

    context = View

    def result(self, endpoint: Endpoint, result: Any) -> Response:
        if not isinstance(result, Response):
            raise TypeError(f"the page {endpoint.path} answered {type(result).__name__}, not a response")
        return result

    def error(self, request: Request, exc: Exception) -> Response:
        problem = problem_of(request, exc)
        if problem.status == 401:
            return sign_in_redirect(request, expired=sessions.SESSION_COOKIE in request.cookies)
        response = error_page(request, problem.status, sentence_of(problem), getattr(request.state, "user", None))
        response.headers.update(problem.headers or {})
        return response


HTML = HtmlRenderer()


@dataclass(frozen=True)
class Page:
    """A page's declaration: one Endpoint per method it answers, each rendered as HTML (`web.ui.routes`)."""

    endpoints: tuple[Endpoint, ...]


def page(
    path: str,
    *,
    methods: tuple[str, ...] = ("GET",),
    auth: bool = True,
    admin: bool = False,
    in_transaction: bool = True,
    renderer: HtmlRenderer = HTML,
) -> Callable[[Handler], Page]:
    """Declare a page: an Endpoint per method, with a form body, the HTML renderer, and left out of the API's
    document. An unsigned-in visitor of a page that needs a user is sent to sign in. `in_transaction=False`: the
    handler opens its own transactions (a GET that writes, such as a public link's counted view, cannot run on a
    read replica); `renderer`: a subclass of the HTML one that adds headers of its own (public pages)."""

    def register(handler: Handler) -> Page:
        summary = (handler.__doc__ or handler.__name__).strip().splitlines()[0]
        return Page(
            tuple(
                Endpoint(
                    method,
                    path,
                    handler,
                    "pages",
                    auth=auth,
                    admin=admin,
                    summary=summary,
                    documented=False,
                    form=True,
                    renderer=renderer,
                    in_transaction=in_transaction,
                )
                for method in methods
            )
        )

    return register
