"""The web interface: server-rendered pages over the same repositories as the JSON API, one module per page group,
declared as Endpoints (web/ui/render.py's `page`) and run by the API's own pipeline (web/pipeline.py).

Templates live in `web/templates`, styles and scripts in `web/static` (plain ES modules, no build step, no CDN).
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from repo.errors import NotFound
from web import sessions
from web.pipeline import asgi_endpoint
from web.pipeline import routes as endpoint_routes
from web.ui import (
    account,
    admin,
    ask,
    collections,
    groups,
    library,
    llm_usage,
    media,
    my_data,
    my_sessions,
    notifications,
    oidc,
    password_reset,
    public,
    retention,
    search,
    settings,
    sharing,
    speaker_names,
    speakers,
    topics,
    translations,
    two_factor,
)
from web.ui.render import View, error_page, page

STATIC = Path(__file__).resolve().parent.parent / "static"


@page("/{path:path}", auth=False)
def no_such_page(view: View) -> Response:
    """An address no route answers, read through the pipeline like any page, so its header and its way on are a
    signed-in person's (the library), not "Sign in / Register"."""
    raise NotFound("there is no page at this address")


def not_found(fallback: ASGIApp) -> ASGIApp:
    """The router's default (no route matched): a page with a way back, except under /api, which keeps its JSON."""
    read = asgi_endpoint(no_such_page.endpoints[0])

    async def default(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/api/"):
            await fallback(scope, receive, send)
            return
        request = Request(scope, receive)
        if scope["method"] in ("GET", "HEAD") and sessions.SESSION_COOKIE in request.cookies:
            response = await read(request)  # perhaps a signed-in person: the pipeline says who
        else:  # a visitor (no database asked), or a form sent to no page (no CSRF check to fail first)
            response = error_page(request, 404, "There is no page at this address.")
        await response(scope, receive, send)

    return default


MODULES = (
    account,
    oidc,
    library,
    media,
    sharing,
    public,
    search,
    ask,
    collections,
    groups,
    speakers,
    notifications,
    settings,
    my_data,
    admin,
    llm_usage,
    retention,
    two_factor,  # step 19: the second step of a sign-in, two factors in the settings
    my_sessions,
    password_reset,
    translations,  # step 21: the file page's translation forms
    speaker_names,  # step 21: speaker names proposed from the conversation
    topics,  # step 21: the file page's topics forms
)


def routes() -> list[BaseRoute]:
    pages = [endpoint for module in MODULES for page in module.ROUTES for endpoint in page.endpoints]
    return [*endpoint_routes(pages), Mount("/static", StaticFiles(directory=STATIC), name="static")]
