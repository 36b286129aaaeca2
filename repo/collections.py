"""Collections: a user's named groups of their own media files."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from repo import statements as s
from repo.database import Connection
from repo.errors import Conflict, Forbidden, NotFound
from repo.rows import Actor, trimmed

MAX_NAME_LENGTH = 200


@dataclass(frozen=True, slots=True)
class Collection:
    id: int
    uuid: UUID
    name: str
    description: str | None
    file_count: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class CollectionFile:
    file_uuid: UUID
    filename: str
    added_at: datetime


@dataclass(frozen=True, slots=True)
class _Added:
    added: int
    found: int
    requested: int


@dataclass(frozen=True, slots=True)
class _Removed:
    removed: int


_create = s.one_or_none("collections.create", Collection)
_list = s.many("collections.list", Collection)
_get = s.one_or_none("collections.get", Collection)
_update = s.one_or_none("collections.update", Collection)
_delete = s.rowcount("collections.delete")
_add_files = s.one_or_none("collections.add_files", _Added)
_remove_files = s.one_or_none("collections.remove_files", _Removed)
_files = s.many("collections.files", CollectionFile)


def clean_name(name: str) -> str:
    return trimmed(name, "name", MAX_NAME_LENGTH, "a collection name")


def _duplicate_name() -> Conflict:
    return Conflict("a collection with this name already exists", "name")


class CollectionRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def create(self, actor: Actor, name: str, description: str | None = None) -> Collection:
        created = _create(self.conn, name=clean_name(name), description=description or None, actor_id=actor.id)
        if created is None:
            raise _duplicate_name()
        return created

    def list(self, actor: Actor) -> builtins.list[Collection]:
        """The actor's collections and those shared with them (everyone's for an admin in the all-files view) by
        name, each with its file count."""
        return _list(self.conn, **actor.scope())

    def get(self, actor: Actor, uuid: UUID) -> Collection:
        found = _get(self.conn, uuid=uuid, **actor.scope())
        if found is None:
            raise NotFound("collection not found")
        return found

    def update(
        self, actor: Actor, uuid: UUID, *, name: str | None = None, description: str | None = None
    ) -> Collection:
        """None leaves a field as it is; an empty description clears it."""
        try:
            updated = _update(
                self.conn,
                uuid=uuid,
                name=clean_name(name) if name is not None else None,
                description=description,
                **actor.scope(),
            )
        except Conflict as exc:
            raise _duplicate_name() from exc
        if updated is None:
            raise self._refused(actor, uuid)
        return updated

    def delete(self, actor: Actor, uuid: UUID) -> None:
        """The collection goes; its files stay."""
        if _delete(self.conn, uuid=uuid, **actor.scope()) == 0:
            raise self._refused(actor, uuid)

    def add_files(self, actor: Actor, collection_uuid: UUID, file_uuids: Sequence[UUID]) -> int:
        """How many files were newly added; nothing is added unless every file is one of the owner's visible files."""
        result = _add_files(
            self.conn, collection_uuid=collection_uuid, file_uuids=builtins.list(file_uuids), **actor.scope()
        )
        if result is None:
            raise self._refused(actor, collection_uuid)
        if result.found != result.requested:
            # A conflict, not a 404: the collection in the path exists; a file the body names does not (for you).
            raise Conflict("not every file named is one of your files", "file_uuids")
        return result.added

    def remove_files(self, actor: Actor, collection_uuid: UUID, file_uuids: Sequence[UUID]) -> int:
        """How many of these files were in the collection (and are no longer)."""
        result = _remove_files(
            self.conn, collection_uuid=collection_uuid, file_uuids=builtins.list(file_uuids), **actor.scope()
        )
        if result is None:
            raise self._refused(actor, collection_uuid)
        return result.removed

    def files(self, actor: Actor, collection_uuid: UUID) -> builtins.list[CollectionFile]:
        """Members in the order they were added."""
        members = _files(self.conn, collection_uuid=collection_uuid, **actor.scope())
        if not members:
            self.get(actor, collection_uuid)
        return members

    def _refused(self, actor: Actor, uuid: UUID) -> Forbidden:
        """Why a write on a collection matched no row: NotFound (raised here) when the actor cannot see it at all,
        Forbidden (returned) when it is shared with them: only its owner changes it."""
        self.get(actor, uuid)
        return Forbidden("only the collection's owner may change it", "collection")
