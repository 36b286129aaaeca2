"""A file's topics: asking a language model for them (a `topics` run, web/llm_runs.py), reading them, and deciding on
what each proposes. A proposed tag or collection is applied only by its accept route, one click each; never by the
run (repo/topics.py).
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from repo.errors import Conflict
from repo.llm_runs import LlmRunRepository
from repo.topics import Topic, TopicRepository
from web.endpoint import Ctx, Router
from web.llm_runs import RUN_RAISES, Language, LlmRunOut, RunRequestIn, request_run, run_out

router = Router("topics")


class TopicsRequestIn(RunRequestIn):
    language: Language | None = Field(
        default=None, description="the language to name the topics in; default: the transcript's"
    )


class TopicOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    uuid: UUID
    run_uuid: UUID = Field(description="the run that found it (GET /api/llm-runs/{uuid})")
    file_uuid: UUID
    position: int
    label: str
    description: str | None
    relevance: float = Field(description="0: a passing mention … 1: what the recording is about")
    moments: list[float] = Field(description="seconds into the recording where it is discussed")
    proposed_tag: str | None
    proposed_collection: str | None
    tag_decision: str | None = Field(description="null while proposed, then accepted or dismissed")
    collection_decision: str | None = Field(description="null while proposed, then accepted or dismissed")
    decided_at: datetime | None
    created_at: datetime


class FileTopicsOut(BaseModel):
    run: LlmRunOut | None = Field(description="the file's newest topics run, whatever its state; null: none yet")
    topics: list[TopicOut] = Field(description="those of its newest completed topics run, the most relevant first")


@router.post("/api/files/{uuid}/topics", body=TopicsRequestIn, response=LlmRunOut, status=202, raises=RUN_RAISES)
def request_topics(ctx: Ctx, body: TopicsRequestIn) -> LlmRunOut:
    """Ask your LLM (the named configuration, else your active one) for the file's topics; editors. Follow the run
    here or at /api/llm-runs/{uuid}; its topics replace the file's earlier ones when it completes."""
    return request_run(ctx, "topics", body.llm_config_uuid, language=body.language)


@router.get("/api/files/{uuid}/topics", response=FileTopicsOut)
def file_topics(ctx: Ctx) -> FileTopicsOut:
    """The file's topics, with the state of its newest topics run (pending, processing with its progress, failed
    with why, or completed with what it cost)."""
    topics = TopicRepository(ctx.conn).for_file(ctx.actor, ctx.uuid("uuid"))  # 404 when unseen
    runs = LlmRunRepository(ctx.conn).list_for_file(ctx.actor, ctx.uuid("uuid"), "topics", limit=1)
    return FileTopicsOut(
        run=run_out(ctx, runs[0]) if runs else None,
        topics=[TopicOut.model_validate(t) for t in topics],
    )


@router.post("/api/topics/{uuid}/accept-tag", response=TopicOut, raises=(Conflict,))
def accept_tag(ctx: Ctx) -> Topic:
    """Add the topic's proposed tag to its file (editors); again changes nothing. 409 naming proposed_tag when the
    topic proposes none."""
    return TopicRepository(ctx.conn).accept_tag(ctx.actor, ctx.uuid("uuid"))


@router.post("/api/topics/{uuid}/accept-collection", response=TopicOut, raises=(Conflict,))
def accept_collection(ctx: Ctx) -> Topic:
    """Add the file to your collection of the proposed name, made when you have none; again changes nothing. Only
    the file's owner can (a collection holds its owner's files): 409 naming collection for another editor, naming
    proposed_collection when the topic proposes none."""
    return TopicRepository(ctx.conn).accept_collection(ctx.actor, ctx.uuid("uuid"))


@router.post("/api/topics/{uuid}/dismiss", response=TopicOut)
def dismiss(ctx: Ctx) -> Topic:
    """Dismiss the topic's open proposals (editors); one already accepted stays so."""
    return TopicRepository(ctx.conn).dismiss(ctx.actor, ctx.uuid("uuid"))
