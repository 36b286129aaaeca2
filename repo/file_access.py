"""How a file or a collection reaches the acting user: as its owner, or through the highest share (with the name of
the person who made it). The pages show their controls by this (a viewer sees no edit controls, an editor no delete
or share) and say "Shared with you by X as editor"; each query still decides on its own what the actor may do.
Also which of the collections and speaker profiles the pages list are the actor's own (only those are renamed,
deleted or shared there), and who the actor's profiles are shared with.
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
class _Owned:
    uuid: UUID


@dataclass(frozen=True, slots=True)
class ProfileShare:
    profile_uuid: UUID
    uuid: UUID
    kind: str
    name: str
    role: str


_for_file = s.one_or_none("file_access.for_file", Access)
_for_collection = s.one_or_none("file_access.for_collection", Access)
_owned_collections = s.many("file_access.owned_collections", _Owned)
_owned_profiles = s.many("file_access.owned_profiles", _Owned)
_profile_shares = s.many("file_access.profile_shares", ProfileShare)


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

    def owned_collections(self, actor: Actor) -> set[UUID]:
        """The uuids of the actor's own collections, of all those the collection lists show them."""
        return {row.uuid for row in _owned_collections(self.conn, **actor.scope())}

    def owned_profiles(self, actor: Actor) -> set[UUID]:
        """The uuids of the actor's own speaker profiles (the speakers page also lists those shared with them)."""
        return {row.uuid for row in _owned_profiles(self.conn, **actor.scope())}

    def profile_shares(self, actor: Actor) -> dict[UUID, list[ProfileShare]]:
        """Who each of the actor's own profiles is shared with, by profile."""
        found: dict[UUID, list[ProfileShare]] = {}
        for share in _profile_shares(self.conn, **actor.scope()):
            found.setdefault(share.profile_uuid, []).append(share)
        return found
