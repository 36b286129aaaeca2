"""Application factory: `uvicorn --factory web.app:create_app`."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from config.settings import Settings, get_settings
from embedded import servers as embedded
from repo import passages, schema
from repo.database import Database
from repo.statements import set_slow_query_ms
from web import choices, docs, errors, live, openapi, ui
from web.api import all_endpoints
from web.headers import ResponseHeaders
from web.live import LiveHub
from web.pipeline import routes
from web.services import Services

log = logging.getLogger("opentr.web")
TOKEN_IN_QUERY = re.compile(r"((?:^|[?&;])(?:access_)?token=)[^&;\s\"']+", re.IGNORECASE)


class RedactQueryTokens(logging.Filter):
    """uvicorn logs every request path with its query string, and WS /api/ws/notifications takes `?token=`:
    without this filter each live connection would write its bearer token into the server log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                TOKEN_IN_QUERY.sub(r"\1[redacted]", arg) if isinstance(arg, str) else arg for arg in record.args
            )
        if isinstance(record.msg, str):
            record.msg = TOKEN_IN_QUERY.sub(r"\1[redacted]", record.msg)
        return True


def _redact_tokens_in_server_logs() -> None:
    for name in ("uvicorn.error", "uvicorn.access"):
        server_log = logging.getLogger(name)
        if not any(isinstance(existing, RedactQueryTokens) for existing in server_log.filters):
            server_log.addFilter(RedactQueryTokens())


class App(Starlette):
    """Starlette, with the headers every response carries (web/headers.py) set outside everything else: even the
    500 that Starlette's outermost error middleware writes passes through them."""

    def build_middleware_stack(self) -> ASGIApp:
        return ResponseHeaders(super().build_middleware_stack())


def _say_whether_meaning_is_on(db: Database) -> None:
    """Once at start: search by meaning off (no pgvector) is said here, not on every search."""
    with db.acting_as_system(), db.transaction() as conn:
        notice = passages.search_by_meaning_notice(conn)
    if notice:
        log.warning(notice)


def create_app(settings: Settings | None = None, extra_routes: list[BaseRoute] | None = None) -> Starlette:
    settings = settings or get_settings()
    _redact_tokens_in_server_logs()
    endpoints = all_endpoints()
    document: dict[str, Any] = {}

    async def openapi_json(request: Request) -> JSONResponse:
        # Built on the first request, not as the app starts: generating ~270 schemas takes 0.15-0.4 s of CPU that
        # every process start (each uvicorn worker, each test's app) paid although few ever ask for the document.
        if not document:
            document.update(choices.specialise_document(openapi.document(endpoints), settings))  # models as an enum
        return JSONResponse(document)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        set_slow_query_ms(settings.db_slow_query_ms)
        url = embedded.database_url(settings)
        # Under a Procfile runner `release` may still be migrating: wait for it (one log line) instead of
        # answering 500s on missing tables; uvicorn accepts connections only after this.
        await asyncio.to_thread(schema.wait_until_ready, url, settings.opentr_schema_wait_seconds, log.warning)
        # A transaction nobody declared acts for nobody: row-level security shows it nothing (repo/database.py).
        db = Database(url, settings, application_name="opentr-web", undeclared=None)
        await asyncio.to_thread(_say_whether_meaning_is_on, db)
        services = Services(settings, db, embedded.redis_url(settings), settings.secret_key(), settings.storage_dir)
        app.state.services = services
        app.state.live = LiveHub(services)
        app.state.live.start()
        try:
            yield {}
        finally:
            await app.state.live.stop()
            db.close()

    app = App(
        routes=[
            *routes(endpoints),
            Route("/api/openapi.json", openapi_json),
            *docs.ROUTES,
            *live.ROUTES,
            *(extra_routes or []),
            *ui.routes(),
        ],
        lifespan=lifespan,
        # JSON of 1 KB and more goes gzipped to clients that accept it (level 6: level 9, the default, costs ~3x
        # the CPU for ~2 % fewer bytes); media and already-encoded bodies (the transcript's cache) pass as they are.
        middleware=[
            Middleware(
                GZipMiddleware,
                minimum_size=1024,
                compresslevel=6,
                exclude_content_types=(*DEFAULT_EXCLUDED_CONTENT_TYPES, "application/octet-stream"),
            )
        ],
        exception_handlers={**errors.HANDLERS, Exception: errors.handle_any},
    )
    app.router.default = ui.not_found(app.router.default)
    return app
