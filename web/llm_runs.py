"""LLM work over a file's transcript, the parts every kind shares: requesting a run (web/topics.py,
web/speaker_names.py, web/translations.py call `request_run`), following it, cancelling it, deleting it; what
one's requests cost today and the limit they count against; an administrator setting the limits.

A run uses the requester's own LLM configuration (named, else their active one) and counts against their daily
limit: nothing goes to a model its requester did not configure. Each request's cost (tokens in and out, as the
server reported them) is listed with the run.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from asr.languages import CODES, language_name
from jobs import llm_runs as run_jobs
from jobs.registry import ignoring_gone
from repo.errors import Conflict, NotFound
from repo.instance_settings import DAILY_TOKEN_LIMIT, InstanceSettings
from repo.llm_configs import LlmConfig, LlmConfigRepository
from repo.llm_runs import LlmRun, LlmRunRepository, RunKind, task_id_for
from repo.llm_usage import MAX_LIMIT, LlmUsageRepository, Request, TokenLimitReached
from repo.media_files import MediaFileRepository
from repo.tasks import TaskRepository
from repo.users import UserRepository
from web.audit_trail import audit
from web.endpoint import Ctx, Router
from web.fields import worded

router = Router("llm work")

LANGUAGE_PATTERN = worded(
    "^(" + "|".join(sorted(CODES)) + ")$", "a language code such as en, de, ja or ar (ISO 639-1, as Whisper's)"
)
Language = Annotated[str, Field(pattern=LANGUAGE_PATTERN)]
DailyTokens = Annotated[int, Field(ge=0, le=MAX_LIMIT)]


class RunRequestIn(BaseModel):
    """What every kind of run may be given."""

    model_config = ConfigDict(extra="forbid")
    llm_config_uuid: UUID | None = Field(default=None, description="one of your LLM configurations; default: active")


class RequestCostOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    input_tokens: int
    output_tokens: int
    reported: bool = Field(description="false: the server reported no usage; the counts are estimates")
    latency_ms: int
    created_at: datetime


class LlmRunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    uuid: UUID
    kind: str
    status: str = Field(description="pending, processing, completed, failed or cancelled")
    cancel_requested: bool
    progress: float
    provider: str
    model_name: str
    language: str | None
    language_name: str | None
    requests: int
    input_tokens: int
    output_tokens: int
    error_message: str | None
    stale: bool = Field(description="the transcript was edited after the run read it")
    task_id: str = Field(description="follow the job at /api/tasks/{task_id}")
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None


class LlmRunDetailOut(LlmRunOut):
    costs: list[RequestCostOut] = Field(description="each request the run sent, oldest first")


class RunListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: RunKind | None = None


class PurposeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    purpose: str
    requests: int
    input_tokens: int
    output_tokens: int


class UsageOut(BaseModel):
    used_today: int = Field(description="tokens in and out since 00:00 UTC")
    daily_limit: int | None = Field(description="null: no limit")
    remaining: int | None
    own_limit: bool = Field(description="an administrator set this person's own limit (else the instance's)")
    by_purpose: list[PurposeOut]


class LimitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    daily_tokens: DailyTokens | None = Field(
        description="tokens per UTC day; null: no limit (or, for one person, the instance's default)"
    )


class InstanceLimitOut(BaseModel):
    daily_tokens: int | None


def run_out(ctx: Ctx, run: LlmRun, detail: bool = False) -> LlmRunOut:
    current = LlmRunRepository(ctx.conn).current_transcript_version(run.media_file_id)
    fields: dict[str, Any] = {
        "uuid": run.uuid,
        "kind": run.kind,
        "status": run.status,
        "cancel_requested": run.cancel_requested,
        "progress": run.progress,
        "provider": run.provider,
        "model_name": run.model_name,
        "language": run.language,
        "language_name": language_name(run.language) if run.language else None,
        "requests": run.requests,
        "input_tokens": run.input_tokens,
        "output_tokens": run.output_tokens,
        "error_message": run.error_message,
        "stale": run.transcript_version is not None and run.transcript_version != current,
        "task_id": task_id_for(run.kind, run.uuid),
        "created_at": run.created_at,
        "started_at": run.started_at,
        "completed_at": run.completed_at,
    }
    if not detail:
        return LlmRunOut(**fields)
    costs: list[Request] = LlmUsageRepository(ctx.conn).of_subject(run.uuid)
    return LlmRunDetailOut(**fields, costs=[RequestCostOut.model_validate(c) for c in costs])


def requester_config(ctx: Ctx, uuid: UUID | None) -> LlmConfig:
    """The requester's named configuration, else their active one; a 409 naming llm_config_uuid otherwise."""
    configs = LlmConfigRepository(ctx.conn, ctx.services.master_key)
    if uuid is None:
        active = configs.active(ctx.actor)
        if active is None:
            raise Conflict(
                "no active LLM configuration: add one in settings and activate it, or name one", "llm_config_uuid"
            )
        return active
    try:
        return configs.get(ctx.actor, uuid)
    except NotFound:
        raise Conflict("LLM configuration not found among yours", "llm_config_uuid") from None


def request_run(
    ctx: Ctx,
    kind: RunKind,
    config_uuid: UUID | None,
    *,
    language: str | None = None,
    options: dict[str, Any] | None = None,
) -> LlmRunOut:
    """Queue a run of `kind` on the path's file for the requester (an editor of it); enqueued after the commit."""
    ctx.services.require_redis()
    files = MediaFileRepository(ctx.conn)
    files.state_to_edit(ctx.actor, ctx.uuid("uuid"))  # 404 unseen, 403 below the editor role
    file = files.get(ctx.actor, ctx.uuid("uuid"))
    config = requester_config(ctx, config_uuid)
    run, queued = run_jobs.queue_run(ctx.conn, ctx.actor, kind, file.id, config.id, language=language, options=options)
    redis = ctx.services.redis

    def enqueue() -> None:
        run_jobs.enqueue(redis, queued)

    ctx.after_commit(enqueue)
    return run_out(ctx, run)


RUN_RAISES = (Conflict, TokenLimitReached)


@router.get("/api/files/{uuid}/llm-runs", query=RunListQuery, response=list[LlmRunOut])
def list_runs(ctx: Ctx, query: RunListQuery) -> list[LlmRunOut]:
    """A file's LLM runs (topics, speaker names, translations), newest first."""
    files = MediaFileRepository(ctx.conn)
    files.get(ctx.actor, ctx.uuid("uuid"))  # 404 when unseen, not an empty list
    runs = LlmRunRepository(ctx.conn).list_for_file(ctx.actor, ctx.uuid("uuid"), query.kind)
    return [run_out(ctx, run) for run in runs]


@router.get("/api/llm-runs/{uuid}", response=LlmRunDetailOut)
def get_run(ctx: Ctx) -> LlmRunOut:
    """One run, with what each of its requests cost."""
    return run_out(ctx, LlmRunRepository(ctx.conn).get(ctx.actor, ctx.uuid("uuid")), detail=True)


@router.post("/api/llm-runs/{uuid}/cancel", response=LlmRunOut, raises=(Conflict,))
def cancel_run(ctx: Ctx) -> LlmRunOut:
    """Stop a run: a pending one at once, a processing one within a second, mid-request too; nothing of it is
    stored. 409 once it has ended."""
    run = LlmRunRepository(ctx.conn).request_cancel(ctx.actor, ctx.uuid("uuid"))
    if run.status == "cancelled":  # it had not started: its task ends with it (no job will come to end it)
        with ignoring_gone():
            TaskRepository(ctx.conn).cancel(task_id_for(run.kind, run.uuid))
    return run_out(ctx, run)


@router.delete("/api/llm-runs/{uuid}", status=204, raises=(Conflict,))
def delete_run(ctx: Ctx) -> None:
    """Delete an ended run and what it produced (proposals not yet accepted, a translation); 409 while it runs."""
    LlmRunRepository(ctx.conn).delete(ctx.actor, ctx.uuid("uuid"))


@router.get("/api/users/me/llm-usage", response=UsageOut)
def my_usage(ctx: Ctx) -> UsageOut:
    """The tokens your LLM requests used today (UTC), by purpose, and your daily limit."""
    return usage_of(ctx, ctx.actor.id)


def usage_of(ctx: Ctx, user_id: int) -> UsageOut:
    usage = LlmUsageRepository(ctx.conn)
    allowance = usage.allowance(user_id)
    return UsageOut(
        used_today=allowance.used,
        daily_limit=allowance.limit,
        remaining=allowance.remaining,
        own_limit=allowance.own,
        by_purpose=[PurposeOut.model_validate(p) for p in usage.today_by_purpose(user_id)],
    )


@router.get("/api/admin/llm-limit", response=InstanceLimitOut, admin=True)
def instance_limit(ctx: Ctx) -> InstanceLimitOut:
    """The instance's daily token limit per person (null: none)."""
    return InstanceLimitOut(daily_tokens=InstanceSettings(ctx.conn).get(DAILY_TOKEN_LIMIT))


@router.put("/api/admin/llm-limit", body=LimitIn, response=InstanceLimitOut, admin=True)
def set_instance_limit(ctx: Ctx, body: LimitIn) -> InstanceLimitOut:
    """Set the daily token limit of everyone without a limit of their own (null: no limit)."""
    settings = InstanceSettings(ctx.conn)
    before = settings.get(DAILY_TOKEN_LIMIT)
    settings.put(ctx.actor, DAILY_TOKEN_LIMIT, body.daily_tokens)
    audit(
        ctx,
        "settings.update",
        object_type="llm",
        object_id="daily_token_limit",
        details={"setting": DAILY_TOKEN_LIMIT, "from": before, "to": body.daily_tokens},
    )
    return InstanceLimitOut(daily_tokens=body.daily_tokens)


@router.get("/api/admin/users/{uuid}/llm-usage", response=UsageOut, admin=True)
def user_usage(ctx: Ctx) -> UsageOut:
    """One person's LLM use today and the limit that applies to them."""
    return usage_of(ctx, UserRepository(ctx.conn).get(ctx.actor, ctx.uuid("uuid")).id)


@router.put("/api/admin/users/{uuid}/llm-limit", body=LimitIn, response=UsageOut, admin=True)
def set_user_limit(ctx: Ctx, body: LimitIn) -> UsageOut:
    """Set one person's daily token limit (null: the instance's default applies again)."""
    user = UserRepository(ctx.conn).get(ctx.actor, ctx.uuid("uuid"))
    LlmUsageRepository(ctx.conn).set_limit(ctx.actor, user.id, body.daily_tokens)
    audit(
        ctx,
        "settings.update",
        object_type="user",
        object_id=user.uuid,
        details={"setting": "llm.daily_token_limit", "to": body.daily_tokens},
    )
    return usage_of(ctx, user.id)
