"""Application factory: `uvicorn --factory web.app:create_app`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from repo import embedded
from repo.database import Database
from repo.settings import Settings, get_settings


async def health(request: Request) -> JSONResponse:
    db: Database = request.app.state.db
    with db.transaction() as conn:
        conn.execute("SELECT 1")
    return JSONResponse({"status": "ok", "database": "ok", "pool": db.stats()})


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.db = Database(embedded.database_url(settings), settings, application_name="opentr-web")
        try:
            yield
        finally:
            app.state.db.close()

    return Starlette(routes=[Route("/api/health", health)], lifespan=lifespan)
