"""Actions on many files at once, in the caller's one transaction, with an outcome for every requested file.

Deleting, tagging, untagging and adding to a collection are one set-based statement each; reprocessing goes file by
file through the same guarded transition as the single-file route. Files the actor cannot see (another user's, or
none at all) come back as `not_found` and are never touched; files they see (shared with them) at a rank below the
action's come back as `forbidden`, untouched too, so a viewer learns why their tagging did nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from uuid import UUID

from repo import statements as s
from repo.database import Connection
from repo.errors import Conflict, Forbidden, NotFound
from repo.media_files import MediaFile, MediaFileRepository
from repo.rows import Actor
from repo.tags import TagRepository

Outcome = Literal["done", "unchanged", "not_found", "forbidden", "conflict"]
MAX_FILES = 500


@dataclass(frozen=True, slots=True)
class FileOutcome:
    uuid: UUID
    outcome: Outcome
    detail: str


@dataclass(frozen=True, slots=True)
class _Changed:
    uuid: UUID
    storage_path: str | None
    changed: bool


@dataclass(frozen=True, slots=True)
class _Collection:
    id: int
    user_id: int


@dataclass(frozen=True, slots=True)
class _Seen:
    uuid: UUID


_delete = s.many("bulk.delete", _Changed)
_add_tag = s.many("bulk.add_tag", _Changed)
_remove_tag = s.many("bulk.remove_tag", _Changed)
_add_to_collection = s.many("bulk.add_to_collection", _Changed)
_collection = s.one("bulk.collection", _Collection)
_readable = s.many("bulk.readable", _Seen)


class BulkRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def _outcomes(
        self, actor: Actor, uuids: Sequence[UUID], rows: list[_Changed], done: str, unchanged: str, refused: str
    ) -> list[FileOutcome]:
        """Each requested file's outcome; a file without a row is `forbidden` (with `refused` saying why) when the
        actor sees it, else `not_found` (only then a second query)."""
        by_uuid = {row.uuid: row for row in rows}
        missing = [uuid for uuid in uuids if uuid not in by_uuid]
        seen = {row.uuid for row in _readable(self.conn, uuids=missing, **actor.scope())} if missing else set()
        result = []
        for uuid in uuids:
            row = by_uuid.get(uuid)
            if row is None:
                result.append(
                    FileOutcome(uuid, "forbidden", refused)
                    if uuid in seen
                    else FileOutcome(uuid, "not_found", "file not found")
                )
            else:
                result.append(
                    FileOutcome(uuid, "done", done) if row.changed else FileOutcome(uuid, "unchanged", unchanged)
                )
        return result

    def delete(self, actor: Actor, uuids: Sequence[UUID]) -> tuple[list[FileOutcome], list[str]]:
        """The outcomes, and the storage paths whose files the caller removes after the commit."""
        rows = _delete(self.conn, uuids=list(uuids), **actor.scope())
        outcomes = self._outcomes(actor, uuids, rows, "deleted", "", "only the file's owner may delete it")
        return outcomes, [row.storage_path for row in rows if row.storage_path]

    def add_tag(self, actor: Actor, uuids: Sequence[UUID], name: str) -> list[FileOutcome]:
        tag = TagRepository(self.conn).get_or_create(name)
        rows = _add_tag(self.conn, uuids=list(uuids), tag_id=tag.id, **actor.scope())
        return self._outcomes(
            actor, uuids, rows, f"tagged {tag.name!r}", f"already tagged {tag.name!r}", "tagging needs the editor role"
        )

    def remove_tag(self, actor: Actor, uuids: Sequence[UUID], name: str) -> list[FileOutcome]:
        rows = _remove_tag(self.conn, uuids=list(uuids), tag=name.strip(), **actor.scope())
        return self._outcomes(
            actor,
            uuids,
            rows,
            f"untagged {name.strip()!r}",
            f"was not tagged {name.strip()!r}",
            "untagging needs the editor role",
        )

    def add_to_collection(self, actor: Actor, uuids: Sequence[UUID], collection_uuid: UUID) -> list[FileOutcome]:
        """NotFound(field collection_uuid) when the collection is not the actor's."""
        try:
            collection = _collection(self.conn, collection_uuid=collection_uuid, **actor.scope())
        except NotFound:
            raise NotFound("collection not found", "collection_uuid") from None
        rows = _add_to_collection(
            self.conn,
            uuids=list(uuids),
            collection_id=collection.id,
            collection_owner=collection.user_id,
            **actor.scope(),
        )
        return self._outcomes(
            actor,
            uuids,
            rows,
            "added to the collection",
            "already in the collection",
            "only files of the collection's owner can join it",
        )

    def reprocess(self, actor: Actor, uuids: Sequence[UUID]) -> tuple[list[FileOutcome], list[MediaFile]]:
        """Each file completed|error|cancelled → pending; the outcomes, and the files the caller queues."""
        files = MediaFileRepository(self.conn)
        outcomes, moved = [], []
        for uuid in uuids:
            try:
                moved.append(files.reprocess(actor, uuid))
                outcomes.append(FileOutcome(uuid, "done", "queued for processing"))
            except NotFound:
                outcomes.append(FileOutcome(uuid, "not_found", "file not found"))
            except Forbidden as exc:
                outcomes.append(FileOutcome(uuid, "forbidden", exc.detail))
            except Conflict as exc:
                outcomes.append(FileOutcome(uuid, "conflict", exc.detail))
        return outcomes, moved
