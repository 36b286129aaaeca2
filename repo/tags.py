"""Tags: global names shared by everyone, attached to the files their owners can see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from repo import access
from repo import statements as s
from repo.database import Connection, as_system
from repo.errors import NotFound
from repo.rows import Actor, trimmed

MAX_NAME_LENGTH = 100


@dataclass(frozen=True, slots=True)
class Tag:
    id: int
    uuid: UUID
    name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TagCount:
    name: str
    uuid: UUID
    file_count: int


@dataclass(frozen=True, slots=True)
class _Name:
    name: str


_insert = s.one_or_none("tags.insert", Tag)
_get_by_name = s.one("tags.get_by_name", Tag)
_attach = s.scalar("tags.attach", bool)
_detach = s.rowcount("tags.detach")
_list_with_counts = s.many("tags.list_with_counts", TagCount)
_for_file = s.many("tags.for_file", Tag)
_file_visible = s.scalar("tags.file_visible", bool)
_list_unused = s.many("tags.list_unused", TagCount)
_delete_unused = s.many("tags.delete_unused", _Name)


def clean_name(name: str) -> str:
    return trimmed(name, "name", MAX_NAME_LENGTH, "a tag name")


class TagRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get_or_create(self, name: str) -> Tag:
        """The tag with this (trimmed) name; safe when several sessions create the same name at once."""
        cleaned = clean_name(name)
        # A separate SELECT (new snapshot) sees a row that a concurrent insert committed while ours waited.
        return _insert(self.conn, name=cleaned) or _get_by_name(self.conn, name=cleaned)

    def attach(self, actor: Actor, file_uuid: UUID, name: str) -> Tag:
        # Tags are global and anyone may create one, so creating it before the file check reveals nothing.
        tag = self.get_or_create(name)
        if not _attach(self.conn, file_uuid=file_uuid, tag_id=tag.id, **actor.scope()):
            access.require(self.conn, actor, access.EDITOR, file_uuid=file_uuid)  # 404 unseen, 403 below editor
            raise NotFound("file not found")
        return tag

    def detach(self, actor: Actor, file_uuid: UUID, name: str) -> None:
        if _detach(self.conn, file_uuid=file_uuid, name=name.strip(), **actor.scope()) == 0:
            access.require(self.conn, actor, access.EDITOR, file_uuid=file_uuid)
            raise NotFound("tag not found on this file")

    def list_with_counts(self, actor: Actor) -> list[TagCount]:
        """Tags on the files the actor may read (every file for an admin in the all-files view), with how many of
        those files carry each."""
        return _list_with_counts(self.conn, **actor.scope())

    def tags_for_file(self, actor: Actor, file_uuid: UUID) -> list[Tag]:
        tags = _for_file(self.conn, file_uuid=file_uuid, **actor.scope())
        if not tags and not _file_visible(self.conn, file_uuid=file_uuid, **actor.scope()):
            raise NotFound("file not found")
        return tags

    def list_unused(self) -> list[TagCount]:
        """Tags on no file at all (anyone's), by name."""
        # Whether anyone's file carries a tag spans every user (row-level security would hide the others' files
        # and call their tags unused); only tag names, a shared vocabulary, come out.
        with as_system(self.conn):
            return _list_unused(self.conn)

    def delete_unused(self, actor: Actor) -> list[str]:
        """Administrators: delete every tag no file carries; the names deleted, by name."""
        if not actor.is_admin:
            raise NotFound("not found")
        with as_system(self.conn):  # as in list_unused: "no file" means nobody's, not only the admin's
            return sorted(row.name for row in _delete_unused(self.conn, actor_is_admin=actor.is_admin))
