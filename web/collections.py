"""Collections: a user's named groups of their own media files."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from repo.collections import MAX_NAME_LENGTH, Collection, CollectionFile, CollectionRepository
from web.endpoint import Ctx, Router
from web.fields import NOT_BLANK, TRIMMED_NOT_BLANK

router = Router("collections")

MAX_FILES_PER_REQUEST = 1000
MAX_DESCRIPTION_LENGTH = 2000
CollectionName = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_NAME_LENGTH), NOT_BLANK, TRIMMED_NOT_BLANK
]


class CollectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: CollectionName
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION_LENGTH)


class CollectionEditIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: CollectionName | None = None
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION_LENGTH, description='"" clears it')


class FileUuidsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    file_uuids: list[UUID] = Field(min_length=1, max_length=MAX_FILES_PER_REQUEST)


class CollectionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    uuid: UUID
    name: str
    description: str | None
    file_count: int
    created_at: datetime
    updated_at: datetime


class CollectionFileOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    file_uuid: UUID
    filename: str
    added_at: datetime


class AddedOut(BaseModel):
    added: int


class RemovedOut(BaseModel):
    removed: int


@router.get("/api/collections", response=list[CollectionOut])
def list_collections(ctx: Ctx) -> list[Collection]:
    """Your collections by name, each with its file count."""
    return CollectionRepository(ctx.conn).list(ctx.actor)


@router.post("/api/collections", body=CollectionIn, response=CollectionOut, status=201)
def create_collection(ctx: Ctx, body: CollectionIn) -> Collection:
    """Create a collection (names are unique per user)."""
    return CollectionRepository(ctx.conn).create(ctx.actor, body.name, body.description)


@router.get("/api/collections/{uuid}", response=CollectionOut)
def get_collection(ctx: Ctx) -> Collection:
    """One collection."""
    return CollectionRepository(ctx.conn).get(ctx.actor, ctx.uuid("uuid"))


@router.put("/api/collections/{uuid}", body=CollectionEditIn, response=CollectionOut)
def update_collection(ctx: Ctx, body: CollectionEditIn) -> Collection:
    """Rename a collection or change its description; omitted fields stay as they are."""
    return CollectionRepository(ctx.conn).update(
        ctx.actor, ctx.uuid("uuid"), name=body.name, description=body.description
    )


@router.delete("/api/collections/{uuid}", status=204)
def delete_collection(ctx: Ctx) -> None:
    """Delete a collection; its files stay."""
    CollectionRepository(ctx.conn).delete(ctx.actor, ctx.uuid("uuid"))


@router.get("/api/collections/{uuid}/files", response=list[CollectionFileOut])
def collection_files(ctx: Ctx) -> list[CollectionFile]:
    """The files of a collection in the order they were added."""
    return CollectionRepository(ctx.conn).files(ctx.actor, ctx.uuid("uuid"))


@router.post("/api/collections/{uuid}/files", body=FileUuidsIn, response=AddedOut)
def add_files(ctx: Ctx, body: FileUuidsIn) -> AddedOut:
    """Add files to a collection: all or none (404 when any file is not yours)."""
    added = CollectionRepository(ctx.conn).add_files(ctx.actor, ctx.uuid("uuid"), body.file_uuids)
    return AddedOut(added=added)


@router.post("/api/collections/{uuid}/files/remove", body=FileUuidsIn, response=RemovedOut)
def remove_files(ctx: Ctx, body: FileUuidsIn) -> RemovedOut:
    """Remove files from a collection; files not in it are ignored."""
    removed = CollectionRepository(ctx.conn).remove_files(ctx.actor, ctx.uuid("uuid"), body.file_uuids)
    return RemovedOut(removed=removed)
