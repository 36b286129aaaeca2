"""AI summaries of a file: request one (queued for a worker) in a language, list a file's versions, read one with
what each of its requests cost, cancel one, delete one.

A summary takes the shape its prompt declares (`output_format`): the BLUF fields, a JSON `content` matching the
prompt's schema, or `markdown`."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, computed_field

from jobs import dispatch
from repo.database import act
from repo.errors import Conflict, NotFound
from repo.llm_configs import LlmConfig, LlmConfigRepository
from repo.llm_usage import LlmUsageRepository
from repo.media_files import MediaFileRepository
from repo.prompts import Prompt, PromptRepository
from repo.rows import Actor
from repo.summaries import Summary, SummaryRepository, task_id_for
from web.endpoint import Ctx, Router
from web.llm_runs import RUN_RAISES, Language, RequestCostOut

router = Router("summaries")
log = logging.getLogger("opentr.web")


class SummaryRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt_uuid: UUID | None = Field(default=None, description="default: your active prompt")
    llm_config_uuid: UUID | None = Field(default=None, description="default: your active LLM configuration")
    language: Language | None = Field(
        default=None, description="the language to write the summary in; default: the transcript's"
    )


class SummaryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    uuid: UUID
    version: int
    status: str = Field(description="pending, processing, completed, failed or cancelled")
    cancel_requested: bool
    output_format: str = Field(description="bluf (the fields bluf … follow_up_items), json (content) or markdown")
    language: str | None = Field(description="the language it was asked to be written in")
    provider: str | None
    model_name: str | None
    bluf: str | None
    brief_summary: str | None
    major_topics: list[Any]
    action_items: list[Any]
    key_decisions: list[Any]
    follow_up_items: list[Any]
    content: dict[str, Any] | None = Field(description="a json summary: one object matching its prompt's schema")
    markdown: str | None = Field(description="a markdown summary's text")
    error_message: str | None
    input_tokens: int | None
    output_tokens: int | None
    processing_ms: int | None
    started_at: datetime | None
    completed_at: datetime | None
    created_at: datetime
    updated_at: datetime


class SummaryDetailOut(SummaryOut):
    costs: list[RequestCostOut] = Field(description="each request the summary sent, oldest first (yours only)")


class QueuedSummaryOut(SummaryOut):
    @computed_field(description="follow the job at /api/tasks/{task_id}")  # type: ignore[prop-decorator]
    @property
    def task_id(self) -> str:
        return task_id_for(self.uuid)


def _config(ctx: Ctx, actor: Actor, uuid: UUID | None) -> LlmConfig:
    configs = LlmConfigRepository(ctx.conn, ctx.services.master_key)
    if uuid is None:
        active = configs.active(actor)
        if active is None:
            raise Conflict("no active LLM configuration: activate one or name it", "llm_config_uuid")
        return active
    try:
        return configs.get(actor, uuid)
    except NotFound:
        # The file in the path exists: a configuration the body names that does not is a conflict, not a 404.
        raise Conflict("LLM configuration not found", "llm_config_uuid") from None


def _prompt(ctx: Ctx, actor: Actor, uuid: UUID | None) -> Prompt | None:
    prompts = PromptRepository(ctx.conn)
    try:
        return prompts.get(actor, uuid) if uuid is not None else prompts.active(actor)
    except NotFound:
        if uuid is not None:
            raise Conflict("prompt not found", "prompt_uuid") from None
        return None  # no active prompt and no system default: the worker uses its built-in one


@router.post(
    "/api/files/{uuid}/summaries", body=SummaryRequestIn, response=QueuedSummaryOut, status=202, raises=RUN_RAISES
)
def request_summary(ctx: Ctx, body: SummaryRequestIn) -> Summary:
    """Summarise a file with an LLM; the summary is written by a worker (follow it with its task_id)."""
    ctx.services.require_redis()
    files = MediaFileRepository(ctx.conn)
    files.state_to_edit(ctx.actor, ctx.uuid("uuid"))  # summarising is re-running a stage: 403 below the editor role
    file = files.get(ctx.actor, ctx.uuid("uuid"))
    # The summary is the file owner's, written by a worker acting for them with their LLM configuration (its key is
    # sealed for them), as a re-run of the summary stage is: an editor's request uses the owner's active
    # configuration and prompt, and may not name configurations or prompts (personal: the owner's are not theirs).
    owner = Actor(file.user_id)
    if file.user_id != ctx.actor.id:
        for name in ("llm_config_uuid", "prompt_uuid"):
            if getattr(body, name) is not None:
                raise Conflict(f"{name}: a summary of another's file uses its owner's; leave it out", name)
    # Row-level security lets the request's transaction see the caller's own configurations only: the owner's are
    # read, and the owner's summary queued, acting as the owner; then the transaction acts for the caller again.
    act(ctx.conn, owner)
    config = _config(ctx, owner, body.llm_config_uuid)
    prompt = _prompt(ctx, owner, body.prompt_uuid)
    summary_id, task_id = dispatch.queue_summary(
        ctx.conn, file.user_id, file.id, prompt.id if prompt else None, config.id, body.language
    )
    act(ctx.conn, ctx.actor)
    redis = ctx.services.redis

    def enqueue() -> None:
        dispatch.enqueue_summary(redis, summary_id, task_id)

    ctx.after_commit(enqueue)
    return SummaryRepository(ctx.conn).get_by_id(summary_id)


@router.get("/api/files/{uuid}/summaries", response=list[SummaryOut])
def list_summaries(ctx: Ctx) -> list[Summary]:
    """A file's summaries, newest version first."""
    return SummaryRepository(ctx.conn).list_for_file(ctx.actor, ctx.uuid("uuid"))


@router.get("/api/summaries/{uuid}", response=SummaryDetailOut)
def get_summary(ctx: Ctx) -> SummaryDetailOut:
    """One summary, with what each of its requests cost (tokens in and out as the server reported them)."""
    summary = SummaryRepository(ctx.conn).get(ctx.actor, ctx.uuid("uuid"))
    costs = LlmUsageRepository(ctx.conn).of_subject(summary.uuid)
    return SummaryDetailOut.model_validate(
        {**SummaryOut.model_validate(summary).model_dump(), "costs": [RequestCostOut.model_validate(c) for c in costs]}
    )


@router.post("/api/summaries/{uuid}/cancel", response=SummaryOut, raises=(Conflict,))
def cancel_summary(ctx: Ctx) -> Summary:
    """Stop a summary: a pending one at once, a processing one within about a second, mid-request too; nothing of
    it is stored. 409 once it has ended."""
    return cancel(ctx, ctx.uuid("uuid"))


def cancel(ctx: Ctx, uuid: UUID) -> Summary:
    """The JSON route's and the file page's cancel (an editor of the file)."""
    return SummaryRepository(ctx.conn).request_cancel(ctx.actor, uuid)


@router.delete("/api/summaries/{uuid}", status=204)
def delete_summary(ctx: Ctx) -> None:
    """Delete a summary version (not while it is being written); the file shows its newest remaining one."""
    SummaryRepository(ctx.conn).delete(ctx.actor, ctx.uuid("uuid"))
