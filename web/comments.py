"""Comments on a media file, optionally pinned to a moment of the recording (seconds from the start)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from repo.comments import MAX_TEXT_LENGTH, Comment, CommentRepository
from web.endpoint import Ctx, Router
from web.fields import NOT_BLANK, TRIMMED_NOT_BLANK, Seconds

router = Router("comments")

CommentText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT_LENGTH), NOT_BLANK, TRIMMED_NOT_BLANK]


class CommentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: CommentText
    timestamp: Seconds | None = Field(default=None, description="seconds into the media")


class CommentEditIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: CommentText


class CommentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    uuid: UUID
    file_uuid: UUID
    author_uuid: UUID
    author_name: str
    text: str
    timestamp: float | None
    created_at: datetime
    updated_at: datetime


@router.get("/api/files/{uuid}/comments", response=list[CommentOut])
def list_comments(ctx: Ctx) -> list[Comment]:
    """A file's comments, oldest first."""
    return CommentRepository(ctx.conn).list_for_file(ctx.actor, ctx.uuid("uuid"))


@router.post("/api/files/{uuid}/comments", body=CommentIn, response=CommentOut, status=201)
def add_comment(ctx: Ctx, body: CommentIn) -> Comment:
    """Comment on a file."""
    return CommentRepository(ctx.conn).create(ctx.actor, ctx.uuid("uuid"), body.text, body.timestamp)


@router.put("/api/comments/{uuid}", body=CommentEditIn, response=CommentOut)
def edit_comment(ctx: Ctx, body: CommentEditIn) -> Comment:
    """Change the text of your comment."""
    return CommentRepository(ctx.conn).update(ctx.actor, ctx.uuid("uuid"), body.text)


@router.delete("/api/comments/{uuid}", status=204)
def delete_comment(ctx: Ctx) -> None:
    """Delete your comment."""
    CommentRepository(ctx.conn).delete(ctx.actor, ctx.uuid("uuid"))
