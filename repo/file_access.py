"""How a file or a collection reaches the acting user: as its owner, or through the highest share (with the name of
the person who made it). The pages show their controls by this (a viewer sees no edit controls, an editor no delete
or share) and say "Shared with you by X as editor"; each query still decides on its own what the actor may do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final
from uuid import UUID

from repo import statements as s
from repo.database import Connection
from repo.errors import NotFound
from repo.rows import Actor

ROLE_OF_RANK: Final = {1: "viewer", 2: "commenter", 3: "editor", 4: "owner"}


@dataclass(frozen=True, slots=True)
class Access:
    uuid: UUID
    owned: bool
    owner_name: str
    rank: int
    shared_by: str | None

    @property
    def role(self) -> str:
        return ROLE_OF_RANK.get(self.rank, "viewer")

    @property
    def can_comment(self) -> bool:
        return self.rank >= 2

    @property
    def can_edit(self) -> bool:
        return self.rank >= 3


@dataclass(frozen=True, slots=True)
class ShareLine:
    """One grant as the owner sees it: a person (`kind` user, with their email) or a group, with a role; a grant
    inherited from a collection names it and is changed there."""

    uuid: UUID
    kind: str
    name: str
    email: str | None
    role: str
    inherited_from: str | None
    inherited_uuid: UUID | None


_for_file = s.one_or_none("file_access.for_file", Access)
_for_collection = s.one_or_none("file_access.for_collection", Access)
_file_shares = s.many("file_access.file_shares", ShareLine)
_collection_shares = s.many("file_access.collection_shares", ShareLine)


class AccessRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def file(self, actor: Actor, uuid: UUID) -> Access:
        found = _for_file(self.conn, uuid=uuid, **actor.scope())
        if found is None:
            raise NotFound("file not found")
        return found

    def collection(self, actor: Actor, uuid: UUID) -> Access:
        found = _for_collection(self.conn, uuid=uuid, **actor.scope())
        if found is None:
            raise NotFound("collection not found")
        return found

    def file_shares(self, actor: Actor, uuid: UUID) -> list[ShareLine]:
        """The owner's view of who has access to the file; empty for anyone else."""
        return _file_shares(self.conn, uuid=uuid, **actor.scope())

    def collection_shares(self, actor: Actor, uuid: UUID) -> list[ShareLine]:
        return _collection_shares(self.conn, uuid=uuid, **actor.scope())
