"""Tags: global names that users attach to their files; each user sees counts over their own files only.

A tag is addressed by name in `DELETE /api/files/{uuid}/tags/{name}` (URL-encoded). The router matches one path
segment there, so names containing "/" could never be detached: the API refuses to create them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from repo.tags import MAX_NAME_LENGTH, Tag, TagCount, TagRepository
from web.endpoint import Ctx, Router
from web.fields import TRIMMED_NOT_BLANK, WHITE_SPACE

router = Router("tags")


def no_slash(name: str) -> str:
    if "/" in name:
        raise ValueError("a tag name cannot contain '/'")
    return name


TagName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_NAME_LENGTH),
    Field(json_schema_extra={"pattern": f"^[^\\u0000/]*[^\\u0000/{WHITE_SPACE}][^\\u0000/]*$"}),
    TRIMMED_NOT_BLANK,
    AfterValidator(no_slash),
]


class TagIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: TagName


class TagOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    uuid: UUID
    name: str
    created_at: datetime


class TagCountOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    uuid: UUID
    name: str
    file_count: int


class TagListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    unused: bool = Field(default=False, description="instead: the tags no file carries (anyone's), to clean up")


class DeletedTagsOut(BaseModel):
    deleted: list[str]


@router.get("/api/tags", query=TagListQuery, response=list[TagCountOut])
def list_tags(ctx: Ctx, query: TagListQuery) -> list[TagCount]:
    """Tags on your files, by name, with how many of your files carry each; `unused=true`: tags on no file."""
    tags = TagRepository(ctx.conn)
    return tags.list_unused() if query.unused else tags.list_with_counts(ctx.actor)


@router.delete("/api/admin/tags/unused", response=DeletedTagsOut, admin=True)
def delete_unused_tags(ctx: Ctx) -> DeletedTagsOut:
    """Delete every tag no file carries (administrators); the deleted names come back."""
    return DeletedTagsOut(deleted=TagRepository(ctx.conn).delete_unused(ctx.actor))


@router.post("/api/tags", body=TagIn, response=TagOut, status=201)
def create_tag(ctx: Ctx, body: TagIn) -> Tag:
    """Create a tag, or return the existing one with this name."""
    return TagRepository(ctx.conn).get_or_create(body.name)


@router.post("/api/files/{uuid}/tags", body=TagIn, response=list[TagOut], status=201)
def tag_file(ctx: Ctx, body: TagIn) -> list[Tag]:
    """Attach a tag (created if new) to a file; returns the file's tags."""
    file_uuid = ctx.uuid("uuid")
    tags = TagRepository(ctx.conn)
    tags.attach(ctx.actor, file_uuid, body.name)
    return tags.tags_for_file(ctx.actor, file_uuid)


@router.delete(
    "/api/files/{uuid}/tags/{name}",
    status=204,
    params={"name": {"type": "string", "minLength": 1, "maxLength": MAX_NAME_LENGTH, "pattern": "^[^/\\u0000]*$"}},
)
def untag_file(ctx: Ctx) -> None:
    """Detach a tag (by URL-encoded name) from a file."""
    file_uuid = ctx.uuid("uuid")
    TagRepository(ctx.conn).detach(ctx.actor, file_uuid, str(ctx.request.path_params["name"]))
