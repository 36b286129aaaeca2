"""The asker's history of questions (asked through /api/ask, web/ask.py): list, read, delete one or all.

Personal like notifications: only the asker reaches a question, administrators included; another user's is 404.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from repo.questions import Question, QuestionRepository
from web.endpoint import Ctx, Router

router = Router("questions")


class CitationOut(BaseModel):
    """A passage the answer cites as [number]; open it at /files/{file_uuid}?t={start_time}."""

    number: int
    file_uuid: UUID
    title: str
    start_time: float
    end_time: float
    text: str


class QuestionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    uuid: UUID
    scope: str = Field(description="file, collection or all (everything you can see)")
    file_uuid: UUID | None = Field(description="the file asked about (null: not a file question, or no longer yours)")
    collection_uuid: UUID | None = Field(description="the collection asked about (null: not one, or deleted since)")
    question: str
    answer: str
    citations: list[CitationOut]
    provider: str
    model_name: str
    created_at: datetime


class QuestionQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limit: int = Field(default=20, ge=1, le=100)
    cursor: UUID | None = Field(default=None, description="next_cursor of the previous page")


class QuestionPage(BaseModel):
    items: list[QuestionOut]
    next_cursor: UUID | None


class DeletedOut(BaseModel):
    deleted: int


def question_out(question: Question) -> QuestionOut:
    return QuestionOut.model_validate(question)


@router.get("/api/questions", query=QuestionQuery, response=QuestionPage)
def list_questions(ctx: Ctx, query: QuestionQuery) -> QuestionPage:
    """Your questions and their answers, newest first."""
    rows = QuestionRepository(ctx.conn).list(ctx.actor, limit=query.limit + 1, cursor=query.cursor)
    items = rows[: query.limit]
    more = len(rows) > query.limit
    return QuestionPage(items=[question_out(row) for row in items], next_cursor=items[-1].uuid if more else None)


@router.get("/api/questions/{uuid}", response=QuestionOut)
def get_question(ctx: Ctx) -> Question:
    """One of your questions, with its answer and citations."""
    return QuestionRepository(ctx.conn).get(ctx.actor, ctx.uuid("uuid"))


@router.delete("/api/questions/{uuid}", status=204)
def delete_question(ctx: Ctx) -> None:
    """Forget one of your questions and its answer."""
    QuestionRepository(ctx.conn).delete(ctx.actor, ctx.uuid("uuid"))


@router.delete("/api/questions", response=DeletedOut)
def delete_questions(ctx: Ctx) -> dict[str, Any]:
    """Forget all your questions and their answers."""
    return {"deleted": QuestionRepository(ctx.conn).delete_all(ctx.actor)}
