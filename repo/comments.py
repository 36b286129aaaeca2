"""Comments on a media file, optionally pinned to a moment of the recording."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from repo import access
from repo import statements as s
from repo.database import Connection
from repo.errors import Forbidden, Invalid, NotFound
from repo.rows import Actor, trimmed

MAX_TEXT_LENGTH = 10_000


@dataclass(frozen=True, slots=True)
class Comment:
    uuid: UUID
    file_uuid: UUID
    author_uuid: UUID
    author_name: str
    text: str
    timestamp: float | None
    created_at: datetime
    updated_at: datetime


_create = s.one_or_none("comments.create", Comment)
_list_for_file = s.many("comments.list_for_file", Comment)
_file_visible = s.scalar("comments.file_visible", bool)
_update = s.one_or_none("comments.update", Comment)
_delete = s.rowcount("comments.delete")


def clean_text(text: str) -> str:
    return trimmed(text, "text", MAX_TEXT_LENGTH, "a comment")


def check_timestamp(timestamp: float | None) -> float | None:
    if timestamp is not None and not (math.isfinite(timestamp) and timestamp >= 0):
        raise Invalid("a comment's timestamp is a non-negative number of seconds", "timestamp")
    return timestamp


class CommentRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def create(self, actor: Actor, file_uuid: UUID, text: str, timestamp: float | None = None) -> Comment:
        """A comment by the actor on a file they can see; `timestamp` is seconds into the media."""
        comment = _create(
            self.conn, file_uuid=file_uuid, text=clean_text(text), timestamp=check_timestamp(timestamp), **actor.scope()
        )
        if comment is None:
            access.require(self.conn, actor, access.COMMENTER, file_uuid=file_uuid)
            raise NotFound("file not found")
        return comment

    def list_for_file(self, actor: Actor, file_uuid: UUID) -> list[Comment]:
        """Oldest first."""
        comments = _list_for_file(self.conn, file_uuid=file_uuid, **actor.scope())
        if not comments and not _file_visible(self.conn, file_uuid=file_uuid, **actor.scope()):
            raise NotFound("file not found")
        return comments

    def update(self, actor: Actor, comment_uuid: UUID, text: str) -> Comment:
        """Only the author may edit, while they may still comment on the file: 404 to whoever cannot see the file,
        403 to the others who can."""
        comment = _update(self.conn, uuid=comment_uuid, text=clean_text(text), **actor.scope())
        if comment is None:
            access.require(self.conn, actor, access.COMMENTER, what="comment", comment_uuid=comment_uuid)
            raise Forbidden("only the comment's author may edit it", "comment")
        return comment

    def delete(self, actor: Actor, comment_uuid: UUID) -> None:
        """The author (while they may still comment) or the file's owner; 404 / 403 as for update."""
        if _delete(self.conn, uuid=comment_uuid, **actor.scope()) == 0:
            access.require(self.conn, actor, access.COMMENTER, what="comment", comment_uuid=comment_uuid)
            raise Forbidden("only the comment's author or the file's owner may delete it", "comment")
