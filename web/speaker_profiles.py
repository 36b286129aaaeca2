"""Speaker profiles (a person recognised across files) and speaker collections (named groups of profiles)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from repo.errors import Conflict
from repo.speaker_profiles import (
    ProfileOccurrence,
    SpeakerCollection,
    SpeakerCollectionRepository,
    SpeakerProfile,
    SpeakerProfileRepository,
)
from web.endpoint import Ctx, Router
from web.fields import NOT_BLANK, TRIMMED_NOT_BLANK

router = Router("speaker_profiles")

MAX_NAME_LENGTH = 200
MAX_DESCRIPTION_LENGTH = 2000
MAX_PROFILES_PER_REQUEST = 1000
Name = Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME_LENGTH), NOT_BLANK, TRIMMED_NOT_BLANK]
Description = Annotated[str, StringConstraints(max_length=MAX_DESCRIPTION_LENGTH)]


class PageQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limit: int = Field(default=100, ge=1, le=500)
    after: str | None = Field(
        default=None, max_length=MAX_NAME_LENGTH, description="the last name of the previous page"
    )


class NamedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    description: Description | None = None


class NamedEditIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name | None = None
    description: Description | None = None


class ProfileUuidsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    profile_uuids: list[UUID] = Field(min_length=1, max_length=MAX_PROFILES_PER_REQUEST)


class ProfileMergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source_profile_uuid: UUID = Field(description="the profile that is merged into the one in the path, and disappears")


class SpeakerProfileOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    uuid: UUID
    name: str
    description: str | None
    speaker_count: int
    file_count: int = Field(description="the files its speakers are heard in")
    talk_time: float = Field(description="seconds its speakers talk, over all those files")
    created_at: datetime
    updated_at: datetime


class OccurrenceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    file_uuid: UUID
    filename: str
    speaker_uuid: UUID
    speaker_label: str
    speaker_name: str
    segment_count: int
    talk_time: float
    assigned_by: str | None = Field(description="'auto': linked by voice matching, with its confidence; 'user'")
    verified: bool
    confidence: float | None


class SpeakerCollectionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    uuid: UUID
    name: str
    description: str | None
    profile_uuids: list[UUID]
    created_at: datetime
    updated_at: datetime


@router.get("/api/speaker-profiles", query=PageQuery, response=list[SpeakerProfileOut])
def list_profiles(ctx: Ctx, query: PageQuery) -> list[SpeakerProfile]:
    """Your speaker profiles by name; pass the last name seen as `after` for the next page."""
    return SpeakerProfileRepository(ctx.conn).list_mine(ctx.actor, after_name=query.after, limit=query.limit)


@router.post("/api/speaker-profiles", body=NamedIn, response=SpeakerProfileOut, status=201)
def create_profile(ctx: Ctx, body: NamedIn) -> SpeakerProfile:
    """Create a speaker profile (names are unique per user)."""
    return SpeakerProfileRepository(ctx.conn).create(ctx.actor, body.name, body.description)


@router.get("/api/speaker-profiles/{uuid}", response=SpeakerProfileOut)
def get_profile(ctx: Ctx) -> SpeakerProfile:
    """One speaker profile."""
    return SpeakerProfileRepository(ctx.conn).get(ctx.actor, ctx.uuid("uuid"))


@router.put("/api/speaker-profiles/{uuid}", body=NamedEditIn, response=SpeakerProfileOut)
def update_profile(ctx: Ctx, body: NamedEditIn) -> SpeakerProfile:
    """Rename a speaker profile or change its description; omitted fields stay as they are."""
    return SpeakerProfileRepository(ctx.conn).update(
        ctx.actor, ctx.uuid("uuid"), name=body.name, description=body.description
    )


@router.delete("/api/speaker-profiles/{uuid}", status=204)
def delete_profile(ctx: Ctx) -> None:
    """Delete a speaker profile; its speakers stay, unlinked."""
    SpeakerProfileRepository(ctx.conn).delete(ctx.actor, ctx.uuid("uuid"))


@router.post("/api/speaker-profiles/{uuid}/merge", body=ProfileMergeIn, response=SpeakerProfileOut)
def merge_profiles(ctx: Ctx, body: ProfileMergeIn) -> SpeakerProfile:
    """Merge another of your profiles into this one (the same person twice): its speakers, voice, suggestions (a
    rejection stays a rejection) and collections move here, and it is deleted. 404 when the profile in the path is
    not yours; 409 naming `source_profile_uuid` for the profile itself or one that is not yours."""
    profile = ctx.uuid("uuid")
    if body.source_profile_uuid == profile:
        # Not expressible in a schema: a conflict between the path and the body, not a malformed value (as for
        # merging a speaker into itself).
        raise Conflict("a speaker profile cannot be merged into itself", "source_profile_uuid")
    return SpeakerProfileRepository(ctx.conn).merge(ctx.actor, profile, body.source_profile_uuid)


@router.get("/api/speaker-profiles/{uuid}/occurrences", response=list[OccurrenceOut])
def profile_occurrences(ctx: Ctx) -> list[ProfileOccurrence]:
    """Where the profile's person speaks, across your files, newest file first; linked automatically or verified."""
    return SpeakerProfileRepository(ctx.conn).occurrences(ctx.actor, ctx.uuid("uuid"))


@router.get("/api/speaker-collections", query=PageQuery, response=list[SpeakerCollectionOut])
def list_speaker_collections(ctx: Ctx, query: PageQuery) -> list[SpeakerCollection]:
    """Your speaker collections by name, with their profiles; pass the last name seen as `after` for the next page."""
    return SpeakerCollectionRepository(ctx.conn).list_mine(ctx.actor, after_name=query.after, limit=query.limit)


@router.post("/api/speaker-collections", body=NamedIn, response=SpeakerCollectionOut, status=201)
def create_speaker_collection(ctx: Ctx, body: NamedIn) -> SpeakerCollection:
    """Create a speaker collection (names are unique per user)."""
    return SpeakerCollectionRepository(ctx.conn).create(ctx.actor, body.name, body.description)


@router.get("/api/speaker-collections/{uuid}", response=SpeakerCollectionOut)
def get_speaker_collection(ctx: Ctx) -> SpeakerCollection:
    """One speaker collection with its profiles."""
    return SpeakerCollectionRepository(ctx.conn).get(ctx.actor, ctx.uuid("uuid"))


@router.put("/api/speaker-collections/{uuid}", body=NamedEditIn, response=SpeakerCollectionOut)
def update_speaker_collection(ctx: Ctx, body: NamedEditIn) -> SpeakerCollection:
    """Rename a speaker collection or change its description; omitted fields stay as they are."""
    return SpeakerCollectionRepository(ctx.conn).update(
        ctx.actor, ctx.uuid("uuid"), name=body.name, description=body.description
    )


@router.delete("/api/speaker-collections/{uuid}", status=204)
def delete_speaker_collection(ctx: Ctx) -> None:
    """Delete a speaker collection; its profiles stay."""
    SpeakerCollectionRepository(ctx.conn).delete(ctx.actor, ctx.uuid("uuid"))


@router.post("/api/speaker-collections/{uuid}/profiles", body=ProfileUuidsIn, response=SpeakerCollectionOut)
def add_profiles(ctx: Ctx, body: ProfileUuidsIn) -> SpeakerCollection:
    """Add profiles to a speaker collection: all or none (404 when any profile is not yours)."""
    return SpeakerCollectionRepository(ctx.conn).add_profiles(ctx.actor, ctx.uuid("uuid"), body.profile_uuids)


@router.post("/api/speaker-collections/{uuid}/profiles/remove", body=ProfileUuidsIn, response=SpeakerCollectionOut)
def remove_profiles(ctx: Ctx, body: ProfileUuidsIn) -> SpeakerCollection:
    """Remove profiles from a speaker collection: all or none (404 when any profile is not yours)."""
    return SpeakerCollectionRepository(ctx.conn).remove_profiles(ctx.actor, ctx.uuid("uuid"), body.profile_uuids)
