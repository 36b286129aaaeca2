"""Topics of a file, found by a language model in its transcript (migration 0023): what a `topics` run stores (in
place of the file's earlier topics: a file has those of its newest completed run), what the file page and the API
show, and the one-click decisions on what each topic proposes.

A topic proposes a tag and perhaps a collection; nothing is applied until someone accepts it: accepting the tag
attaches it to the file as any editor's tag would be (repo/tags.py), accepting the collection adds the file to the
accepting person's collection of that name, made when they have none (repo/collections.py's rules: a collection
holds its owner's files only, so only the file's owner can). Accepting twice changes nothing more; dismissing
closes the proposals still open and never takes back an accepted one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal
from uuid import UUID

from psycopg.types.json import Jsonb

from repo import access
from repo import statements as s
from repo.collections import CollectionRepository
from repo.database import Connection
from repo.errors import Conflict, NotFound
from repo.rows import Actor
from repo.tags import TagRepository

MAX_TOPICS: Final = 12
MAX_LABEL: Final = 100
MAX_DESCRIPTION: Final = 2000
MAX_MOMENTS: Final = 20
Decision = Literal["accepted", "dismissed"]


@dataclass(frozen=True, slots=True)
class NewTopic:
    """One topic as a run found it (workers/topics_job.py checks and normalises it before it gets here)."""

    label: str
    description: str | None
    relevance: float
    moments: list[float]
    tag: str | None
    collection: str | None


@dataclass(frozen=True, slots=True)
class Topic:
    uuid: UUID
    run_id: int
    run_uuid: UUID
    file_uuid: UUID
    media_file_id: int
    file_owner_id: int
    position: int
    label: str
    description: str | None
    relevance: float
    moments: list[float]
    proposed_tag: str | None
    proposed_collection: str | None
    tag_decision: str | None
    collection_decision: str | None
    decided_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class _CollectionRef:
    uuid: UUID


_store = s.rowcount("topics.store")
_for_file = s.many("topics.for_file", Topic)
_get = s.one_or_none("topics.get", Topic)
_decide = s.one_or_none("topics.decide", Topic)
_own_collection_named = s.one_or_none("topics.own_collection_named", _CollectionRef)


def _as_json(topic: NewTopic) -> dict[str, Any]:
    return {
        "label": topic.label,
        "description": topic.description,
        "relevance": topic.relevance,
        "moments": topic.moments,
        "tag": topic.tag,
        "collection": topic.collection,
    }


class TopicRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def store(self, run_id: int, topics: list[NewTopic]) -> int:
        """A completed run's topics, in their order, in place of the file's earlier ones (the run's job writes them
        as it completes the run); how many were stored."""
        return _store(self.conn, run_id=run_id, topics=Jsonb([_as_json(t) for t in topics]))

    def for_file(self, actor: Actor, file_uuid: UUID) -> list[Topic]:
        """The file's topics: those of its newest completed topics run, [] when none; NotFound for an unseen file."""
        found = _for_file(self.conn, file_uuid=file_uuid, **actor.scope())
        if not found:
            access.require(self.conn, actor, access.VIEWER, file_uuid=file_uuid)
        return found

    def get(self, actor: Actor, uuid: UUID) -> Topic:
        found = _get(self.conn, uuid=uuid, **actor.scope())
        if found is None:
            raise NotFound("topic not found")
        return found

    def accept_tag(self, actor: Actor, uuid: UUID) -> Topic:
        """Attach the topic's proposed tag to its file (editors); Conflict naming proposed_tag when it has none."""
        topic = self._editable(actor, uuid)
        if topic.proposed_tag is None:
            raise Conflict("this topic proposes no tag", "proposed_tag")
        TagRepository(self.conn).attach(actor, topic.file_uuid, topic.proposed_tag)
        return self._decide(actor, uuid, tag="accepted")

    def accept_collection(self, actor: Actor, uuid: UUID) -> Topic:
        """Add the file to the actor's collection of the proposed name, made if they have none. Only the file's
        owner can (a collection holds its owner's files): Conflict naming `collection` for anyone else."""
        topic = self._editable(actor, uuid)
        name = topic.proposed_collection
        if name is None:
            raise Conflict("this topic proposes no collection", "proposed_collection")
        if topic.file_owner_id != actor.id:
            raise Conflict(
                "only the file's owner can add it to a collection: a collection holds its owner's files", "collection"
            )
        collections = CollectionRepository(self.conn)
        found = _own_collection_named(self.conn, name=name, actor_id=actor.id)
        if found is None:
            try:
                collection = collections.create(actor, name).uuid
            except Conflict:  # made a moment ago by another request of theirs
                again = _own_collection_named(self.conn, name=name, actor_id=actor.id)
                if again is None:
                    raise
                collection = again.uuid
        else:
            collection = found.uuid
        collections.add_files(actor, collection, [topic.file_uuid])
        return self._decide(actor, uuid, collection="accepted")

    def dismiss(self, actor: Actor, uuid: UUID) -> Topic:
        """Close the topic's open proposals (an accepted one stays accepted)."""
        self._editable(actor, uuid)
        return self._decide(actor, uuid, tag="dismissed", collection="dismissed", only_undecided=True)

    def _editable(self, actor: Actor, uuid: UUID) -> Topic:
        """The topic: NotFound when the actor cannot see its file, Forbidden below the editor role."""
        topic = self.get(actor, uuid)
        access.require(self.conn, actor, access.EDITOR, file_id=topic.media_file_id)
        return topic

    def _decide(
        self,
        actor: Actor,
        uuid: UUID,
        *,
        tag: Decision | None = None,
        collection: Decision | None = None,
        only_undecided: bool = False,
    ) -> Topic:
        decided = _decide(
            self.conn,
            uuid=uuid,
            tag_decision=tag,
            collection_decision=collection,
            only_undecided=only_undecided,
            **actor.scope(),
        )
        if decided is None:  # gone with its run or file since it was read
            raise NotFound("topic not found")
        return decided
