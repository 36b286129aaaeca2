"""The web interface: server-rendered pages over the same repositories as the JSON API, one module per page group,
declared as Endpoints (web/ui/render.py's `page`) and run by the API's own pipeline (web/pipeline.py).

Templates live in `web/templates`, styles and scripts in `web/static` (plain ES modules, no build step, no CDN).
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from web.pipeline import routes as endpoint_routes
from web.ui import account, admin, collections, library, media, notifications, search, settings, speakers
from web.ui.render import error_page

STATIC = Path(__file__).resolve().parent.parent / "static"


def not_found(fallback: ASGIApp) -> ASGIApp:
    """The router's default (no route matched): a page with a way back, except under /api, which keeps its JSON."""

    async def default(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/api/"):
            await fallback(scope, receive, send)
            return
        response = error_page(Request(scope, receive), 404, "There is no page at this address.")
        await response(scope, receive, send)

    return default


MODULES = (account, library, media, search, collections, speakers, notifications, settings, admin)


def routes() -> list[BaseRoute]:
    pages = [endpoint for module in MODULES for page in module.ROUTES for endpoint in page.endpoints]
    return [*endpoint_routes(pages), Mount("/static", StaticFiles(directory=STATIC), name="static")]
