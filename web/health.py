"""`GET /api/health`: database, Redis, pool, schema version, and whether speech can be transcribed; no login."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from starlette.responses import JSONResponse

from asr import availability
from repo import schema
from web.endpoint import Ctx, Router

router = Router("health")


class HealthOut(BaseModel):
    status: str
    database: str
    redis: str
    schema_version: str | None
    pool: dict[str, int]
    # "ready", or "unavailable" with no speech model or server set up (asr/availability.py; the upload page and
    # `opentr models list` say why, and what to do)
    transcription: str


@router.get("/api/health", response=HealthOut, auth=False)
def health(ctx: Ctx) -> Any:
    """Liveness of every dependency."""
    version = schema.applied_version(ctx.conn)
    redis = ctx.services.redis_status()
    body = HealthOut(
        status="ok" if redis == "ok" else "degraded",
        database="ok",
        redis=redis,
        schema_version=version,
        pool=ctx.services.db.stats(),
        transcription="ready" if availability.speech_status(ctx.services.settings).ready else "unavailable",
    )
    return JSONResponse(body.model_dump(), status_code=200)
