"""The speakers of a file: naming, verifying, merging, linking to a speaker profile, and cross-file matches."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from repo.errors import Conflict
from repo.speakers import Speaker, SpeakerMatch, SpeakerRepository
from web.endpoint import Ctx, Router

router = Router("speakers")

MAX_DISPLAY_NAME_LENGTH = 200


class SpeakerEditIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    display_name: str | None = Field(default=None, max_length=MAX_DISPLAY_NAME_LENGTH, description='"" clears it')
    verified: bool | None = None


class MergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source_uuid: UUID = Field(description="the speaker that disappears")
    target_uuid: UUID = Field(description="the speaker that takes over its segments")


class ProfileLinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    profile_uuid: UUID | None = Field(description="one of your speaker profiles, or null to unlink")


class SpeakerOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    uuid: UUID
    media_file_uuid: UUID
    label: str
    display_name: str | None
    suggested_name: str | None
    verified: bool
    confidence: float | None
    profile_uuid: UUID | None
    profile_name: str | None
    segment_count: int
    talk_time: float


class SpeakerMatchOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    speaker_uuid: UUID
    speaker_label: str
    speaker_name: str
    media_file_uuid: UUID
    filename: str
    confidence: float


@router.get("/api/files/{uuid}/speakers", response=list[SpeakerOut])
def list_speakers(ctx: Ctx) -> list[Speaker]:
    """A file's speakers by label, with their profile and talk time."""
    return SpeakerRepository(ctx.conn).list_for_file(ctx.actor, ctx.uuid("uuid"))


@router.put("/api/speakers/{uuid}", body=SpeakerEditIn, response=SpeakerOut)
def update_speaker(ctx: Ctx, body: SpeakerEditIn) -> Speaker:
    """Rename a speaker or set whether it is verified; omitted fields stay as they are."""
    return SpeakerRepository(ctx.conn).update(
        ctx.actor, ctx.uuid("uuid"), display_name=body.display_name, verified=body.verified
    )


@router.post("/api/speakers/{uuid}/verify", response=SpeakerOut)
def verify_speaker(ctx: Ctx) -> Speaker:
    """Mark a speaker as verified."""
    return SpeakerRepository(ctx.conn).update(ctx.actor, ctx.uuid("uuid"), verified=True)


@router.post("/api/files/{uuid}/speakers/merge", body=MergeIn, response=SpeakerOut)
def merge_speakers(ctx: Ctx, body: MergeIn) -> Speaker:
    """Fold one speaker of a file into another; returns the merged target."""
    file_uuid = ctx.uuid("uuid")
    if body.source_uuid == body.target_uuid:
        # Not expressible in a schema: a conflict between the two values, not a malformed one.
        raise Conflict("a speaker cannot be merged into itself", "target_uuid")
    return SpeakerRepository(ctx.conn).merge(ctx.actor, file_uuid, body.source_uuid, body.target_uuid)


@router.put("/api/speakers/{uuid}/profile", body=ProfileLinkIn, response=SpeakerOut)
def link_profile(ctx: Ctx, body: ProfileLinkIn) -> Speaker:
    """Link a speaker to one of your speaker profiles, or unlink it with null."""
    return SpeakerRepository(ctx.conn).assign_profile(ctx.actor, ctx.uuid("uuid"), body.profile_uuid)


@router.get("/api/speakers/{uuid}/matches", response=list[SpeakerMatchOut])
def speaker_matches(ctx: Ctx) -> list[SpeakerMatch]:
    """Speakers in your other files that sound like this one, best match first."""
    return SpeakerRepository(ctx.conn).matches_for(ctx.actor, ctx.uuid("uuid"))
