"""`--only oldstack`: the file page over HTTP, ours against the old stack (FastAPI + SQLAlchemy 2 ORM).

The old stack is what the platform ran before this project: FastAPI routes with `Depends(get_db)` (one ORM Session
per request) and `Depends(get_current_user)` (the bearer token looked up through the ORM), declarative models
(bench/orm.py's, mapped onto our tables), a pydantic `response_model`, served by uvicorn. `create_app` below is that
server; the measure starts it and ours (`web.app:create_app`) one after the other, each as one uvicorn process
with a pool of 10 on the same database, and drives `GET /api/files?limit=50` — the library page of 50 files with
their tags, speaker and segment counts, owner and role — with the same load (16 connections, wrk when installed).
Both answer the same fields for the same user's files; the old stack reads only the caller's own files (it had no
sharing), so its `my_role` is always "owner" and its query has no access rule beyond `user_id`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import httpx
import psutil
import psycopg
from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict
from sqlalchemy import BigInteger, DateTime, ForeignKey, LargeBinary, create_engine, func, select
from sqlalchemy.orm import Mapped, Session, joinedload, mapped_column, relationship, selectinload

from bench import Context, Measure
from bench.http import load, serve, tool, uvicorn
from bench.orm import Base, OrmFile, OrmSegment, OrmSpeaker, OrmUser
from repo import schema

TARGET = 8.0
PAGE = "/api/files?limit=50"
POOL_SIZE = 10
OLD_APPLICATION = "opentr-bench-oldstack"
OUR_APPLICATION = "opentr-web"  # web/app.py's pool


class OrmToken(Base):
    __tablename__ = "auth_tokens"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"))
    token_hash: Mapped[bytes] = mapped_column(LargeBinary)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    user: Mapped[OrmUser] = relationship()


class FileListItem(BaseModel):
    """The old stack's answer: the same fields as ours (web/files.py FileListItemOut)."""

    model_config = ConfigDict(from_attributes=True)
    uuid: uuid.UUID
    filename: str
    title: str | None
    status: str
    progress: float
    duration: float | None
    file_size: int
    content_type: str
    language: str | None
    upload_time: datetime
    completed_at: datetime | None
    summary_status: str | None
    tags: list[str]
    speaker_count: int
    segment_count: int
    owner_name: str
    my_role: Literal["owner", "editor", "commenter", "viewer"]


class FilePage(BaseModel):
    items: list[FileListItem]
    next_cursor: str | None


def get_db(request: Request) -> Iterator[Session]:
    """One ORM Session per request, as the old platform's `Depends(get_db)`."""
    with Session(request.app.state.engine) as session:
        yield session


Db = Annotated[Session, Depends(get_db)]


def get_current_user(db: Db, authorization: Annotated[str, Header()] = "") -> OrmUser:
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(401, "not authenticated")
    found = db.scalars(
        select(OrmToken)
        .options(joinedload(OrmToken.user))
        .where(
            OrmToken.token_hash == hashlib.sha256(token.encode()).digest(),
            OrmToken.revoked_at.is_(None),
            OrmToken.expires_at > func.now(),
        )
    ).first()
    if found is None or not found.user.is_active:
        raise HTTPException(401, "missing, expired or revoked bearer token")
    return found.user


def health() -> dict[str, str]:
    return {"status": "ok"}


def list_files(
    db: Db,
    user: Annotated[OrmUser, Depends(get_current_user)],
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    skip: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    speakers = select(func.count(OrmSpeaker.id)).where(OrmSpeaker.media_file_id == OrmFile.id).scalar_subquery()
    segments = select(func.count(OrmSegment.id)).where(OrmSegment.media_file_id == OrmFile.id).scalar_subquery()
    rows = db.execute(
        select(OrmFile, speakers, segments)
        .where(OrmFile.user_id == user.id)
        .order_by(OrmFile.upload_time.desc(), OrmFile.id.desc())
        .offset(skip)
        .limit(limit + 1)
        .options(selectinload(OrmFile.tags), joinedload(OrmFile.owner))
    ).all()
    items = [
        {
            **{name: getattr(f, name) for name in FileListItem.model_fields if hasattr(OrmFile, name)},
            "tags": [t.name for t in f.tags],
            "speaker_count": speaker_count,
            "segment_count": segment_count,
            "owner_name": f.owner.full_name or f.owner.email,
            "my_role": "owner",
        }
        for f, speaker_count, segment_count in rows[:limit]
    ]
    return {"items": items, "next_cursor": str(skip + limit) if len(rows) > limit else None}


def create_app() -> FastAPI:
    """The old stack's server (`uvicorn --factory bench.oldstack:create_app`, OLDSTACK_DATABASE_URL set)."""
    app = FastAPI()
    app.state.engine = create_engine(
        os.environ["OLDSTACK_DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://", 1),
        pool_size=POOL_SIZE,
        max_overflow=0,
        connect_args={"application_name": OLD_APPLICATION},
    )
    app.add_api_route("/api/health", health, methods=["GET"])
    app.add_api_route("/api/files", list_files, methods=["GET"], response_model=FilePage)
    return app


def serve_old(ctx: Context, home: Path) -> AbstractContextManager[str]:
    """The old stack under uvicorn (one process) on the benchmark database; yields its base URL."""
    env = {**os.environ, "OLDSTACK_DATABASE_URL": schema.to_url(ctx.url)}
    return uvicorn("bench.oldstack:create_app", env, 1, home / "uvicorn-oldstack.log")


def _server_pid(base: str) -> int | None:
    """The uvicorn process listening on `base`'s port (serve() runs one, no workers)."""
    port = base.rsplit(":", 1)[1]
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "uvicorn" in cmdline and port in cmdline:
            return int(process.pid)
    return None


def _cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            times = psutil.Process(pid).cpu_times()
            total += times.user + times.system
    return total


def _backends(url: str, application: str) -> list[int]:
    """The PostgreSQL backends of one stack's pool (on this machine: their CPU time is read from /proc)."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s", [application]).fetchall()
    return [int(row[0]) for row in rows]


def measured(ctx: Context, base: str, application: str, generator: str, home: Path) -> dict[str, Any]:
    """The load's figures, and the CPU time per request of the web process and of its PostgreSQL backends (the
    split of where a request's time goes; the warm-up is counted at the measured rate)."""
    token = ctx.users[0].token
    server = _server_pid(base)
    backends = _backends(ctx.url, application)
    before = (_cpu([server] if server else []), _cpu(backends), time.monotonic())
    result = load(generator, base, [PAGE], token, ctx, home, {"Accept-Encoding": "identity"})
    backends = sorted(set(backends) | set(_backends(ctx.url, application)))  # a pool may have grown meanwhile
    after = (_cpu([server] if server else []), _cpu(backends), time.monotonic())
    served = result["rps"] * (after[2] - before[2])
    if served > 0:
        result["web_cpu_ms"] = round((after[0] - before[0]) / served * 1000, 3) if server else None
        result["postgres_cpu_ms"] = round((after[1] - before[1]) / served * 1000, 3) if backends else None
    return result


def same_fields(ours: dict[str, Any], old: dict[str, Any]) -> None:
    """Both servers must answer the same page: a faster answer with less in it would prove nothing."""
    if [sorted(item) for item in ours["items"]] != [sorted(item) for item in old["items"]]:
        raise RuntimeError(f"the two stacks answer different fields: {sorted(ours['items'][0])} vs {old['items'][0]}")
    strip = ("next_cursor",)
    if {k: v for k, v in ours.items() if k not in strip} != {k: v for k, v in old.items() if k not in strip}:
        raise RuntimeError("the two stacks answer different file pages for the same user")


def run(ctx: Context) -> Measure:
    options = ctx.options
    generator = tool(options.loadgen)
    measure = Measure(
        "oldstack",
        f"file page over HTTP: ours vs FastAPI + SQLAlchemy ORM ({options.http_connections} connections, {generator})",
    )
    user = ctx.users[0]
    auth = {"Authorization": f"Bearer {user.token}"}
    home = Path(tempfile.mkdtemp(prefix="opentr-bench-oldstack-"))
    found: dict[str, dict[str, Any]] = {}
    bodies: dict[str, Any] = {}
    try:
        for side in ("old stack", "ours"):
            server = serve_old(ctx, home) if side == "old stack" else serve(ctx, POOL_SIZE, home, workers=1)
            with server as base:
                bodies[side] = httpx.get(base + PAGE, headers=auth, timeout=60).json()
                found[side] = measured(ctx, base, OLD_APPLICATION if side == "old stack" else OUR_APPLICATION,
                                       generator, home)  # fmt: skip
    finally:
        shutil.rmtree(home, ignore_errors=True)
    same_fields(bodies["ours"], bodies["old stack"])
    for side in ("old stack", "ours"):
        result = found[side]
        measure.rows.append(
            {
                "stack": side,
                "rps": result["rps"],
                "p50_ms": result["p50_ms"],
                "p99_ms": result["p99_ms"],
                "web_cpu_ms_per_request": result.get("web_cpu_ms"),
                "postgres_cpu_ms_per_request": result.get("postgres_cpu_ms"),
                "non_2xx": result["non_2xx"] + result["errors"],
                "bytes_per_response": result["bytes_per_response"],
            }
        )
    ratio = found["ours"]["rps"] / max(found["old stack"]["rps"], 0.1)
    measure.extra["ratio"] = round(ratio, 2)
    measure.target("file page vs the old stack", f">= {TARGET:g}x", round(ratio, 2), ratio >= TARGET, "x")
    measure.notes.append(
        f"GET {PAGE} as a user owning {len(user.file_uuids)} files; one uvicorn process each, pool {POOL_SIZE}, "
        f"{options.http_duration:g} s after {options.http_warmup:g} s of warm-up; ratio = our req/s / theirs"
    )
    return measure
