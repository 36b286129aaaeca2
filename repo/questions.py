"""Questions asked of one's recordings and the answers given (table `questions`, migration 0016): the asker's history.

A question is stored once, complete, when its answer has ended (`create`, one INSERT): an LLM that fails or a client
that goes away leaves nothing behind. Its citations are the passages the answer cited, as they were shown to the
asker (file uuid and title, times, quoted text), so the history reads the same after the transcript changes.
Everything here is the asker's own: other users' questions are not found, administrators' included.
"""

from __future__ import annotations

import builtins
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Final, Literal, get_args
from uuid import UUID

from psycopg.types.json import Jsonb

from repo import statements as s
from repo.database import Connection
from repo.errors import Invalid, NotFound
from repo.rows import Actor, trimmed

Scope = Literal["file", "collection", "all"]
SCOPES: Final = frozenset(get_args(Scope))
MAX_QUESTION: Final = 2000  # characters, after surrounding white space is stripped (the table's CHECK too)


@dataclass(frozen=True, slots=True)
class Citation:
    """A passage an answer cited as [number]: where it is (the file and the moment) and what it says."""

    number: int
    file_uuid: UUID
    title: str
    start_time: float
    end_time: float
    text: str

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "file_uuid": str(self.file_uuid)}


@dataclass(frozen=True, slots=True)
class Question:
    id: int
    uuid: UUID
    user_id: int
    scope: str
    media_file_id: int | None
    file_uuid: UUID | None  # None: a question about everything, or a file the asker can no longer see
    collection_id: int | None
    collection_uuid: UUID | None
    question: str
    answer: str
    citations: list[dict[str, Any]]
    provider: str
    model_name: str
    created_at: datetime


_create = s.one("questions.create", Question)
_list_for_user = s.many("questions.list_for_user", Question)
_get = s.one_or_none("questions.get", Question)
_delete = s.rowcount("questions.delete")
_delete_all = s.rowcount("questions.delete_all")


class QuestionRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def create(
        self,
        actor: Actor,
        *,
        scope: str,
        question: str,
        answer: str,
        citations: builtins.list[Citation],
        provider: str,
        model_name: str,
        media_file_id: int | None = None,
        collection_id: int | None = None,
    ) -> Question:
        """Store an answered question of the actor's; `media_file_id` for scope 'file', `collection_id` for
        'collection', neither for 'all'."""
        if scope not in SCOPES:
            raise Invalid(f"scope must be one of {', '.join(sorted(SCOPES))}", "scope")
        named = {"file": (True, False), "collection": (False, True), "all": (False, False)}[scope]
        if (media_file_id is not None, collection_id is not None) != named:
            raise Invalid(f"scope {scope!r} does not match the file and collection given", "scope")
        return _create(
            self.conn,
            actor_id=actor.id,
            scope=scope,
            media_file_id=media_file_id,
            collection_id=collection_id,
            question=trimmed(question, "question", MAX_QUESTION, "a question"),
            answer=answer,
            citations=Jsonb([c.as_json() for c in citations]),
            provider=provider,
            model_name=model_name,
        )

    def list(self, actor: Actor, *, limit: int = 50, cursor: UUID | None = None) -> builtins.list[Question]:
        """The actor's questions, newest first; `cursor`: the last uuid of the previous page."""
        return _list_for_user(self.conn, actor_id=actor.id, limit=limit, cursor=cursor)

    def get(self, actor: Actor, uuid: UUID) -> Question:
        found = _get(self.conn, uuid=uuid, actor_id=actor.id)
        if found is None:
            raise NotFound("question not found")
        return found

    def delete(self, actor: Actor, uuid: UUID) -> None:
        if _delete(self.conn, uuid=uuid, actor_id=actor.id) == 0:
            raise NotFound("question not found")

    def delete_all(self, actor: Actor) -> int:
        """Forget every question of the actor's; how many there were."""
        return _delete_all(self.conn, actor_id=actor.id)
