"""Speakers: a file's speakers (create, name, verify, merge, delete), linking to a speaker profile by hand or by
answering a voice-matching suggestion, cross-file matches, and all of the user's speakers for filters."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from repo.errors import Conflict, NotFound
from repo.speakers import Speaker, SpeakerMatch, SpeakerRepository, SpeakerSummary, Suggestion
from web.endpoint import Ctx, Router
from web.fields import NOT_BLANK, TRIMMED_NOT_BLANK
from web.speaker_profiles import Name as ProfileName
from web.transcripts import embed_again_after_commit

router = Router("speakers")

MAX_DISPLAY_NAME_LENGTH = 200
MAX_LABEL_LENGTH = 100
Label = Annotated[str, StringConstraints(min_length=1, max_length=MAX_LABEL_LENGTH), NOT_BLANK, TRIMMED_NOT_BLANK]


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


class RememberIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: ProfileName | None = Field(
        default=None, description="the profile's name (found or created); default: the speaker's display name"
    )


class SpeakerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: Label | None = Field(default=None, description="default: the next free SPEAKER_NN")
    display_name: str | None = Field(default=None, max_length=MAX_DISPLAY_NAME_LENGTH)


class SpeakerDeleteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    move_segments_to: UUID | None = Field(
        default=None, description="a speaker of the same file that takes over the segments (required while any)"
    )


class SpeakersQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    file: UUID | None = Field(
        default=None, description="only the people speaking in this file (one of yours or one shared with you)"
    )


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
    assigned_by: str | None = Field(description="'auto' (voice matching) or 'user'; null without a profile")
    has_voice: bool = Field(
        description="it has a voice embedding: a profile can learn its voice and later recordings find it"
    )


class SuggestionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    profile_uuid: UUID
    profile_name: str
    confidence: float
    assigned: bool = Field(description="the speaker is already linked to this profile (automatically)")


class SpeakerSummaryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    name: str
    profile_uuid: UUID | None
    file_count: int
    speaker_count: int


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
    speakers = SpeakerRepository(ctx.conn)
    try:
        merged = speakers.merge(ctx.actor, file_uuid, body.source_uuid, body.target_uuid)
    except NotFound:
        speakers.list_for_file(ctx.actor, file_uuid)  # 404 when the path's file is not yours
        # the body names speakers that are not this file's: a reference to nothing of yours
        raise Conflict("source and target must be speakers of this file", "source_uuid") from None
    embed_again_after_commit(ctx, file_uuid)  # turns changed: passages are cut at turns
    return merged


@router.put("/api/speakers/{uuid}/profile", body=ProfileLinkIn, response=SpeakerOut)
def link_profile(ctx: Ctx, body: ProfileLinkIn) -> Speaker:
    """Link a speaker to one of your speaker profiles, or unlink it with null."""
    return SpeakerRepository(ctx.conn).assign_profile(ctx.actor, ctx.uuid("uuid"), body.profile_uuid)


@router.get("/api/speakers/{uuid}/matches", response=list[SpeakerMatchOut])
def speaker_matches(ctx: Ctx) -> list[SpeakerMatch]:
    """Speakers in your other files that sound like this one, best match first."""
    return SpeakerRepository(ctx.conn).matches_for(ctx.actor, ctx.uuid("uuid"))


@router.post("/api/files/{uuid}/speakers", body=SpeakerIn, response=SpeakerOut, status=201)
def create_speaker(ctx: Ctx, body: SpeakerIn) -> Speaker:
    """Add a speaker with no segments yet to a file (to move segments to); 409 when the label is taken."""
    return SpeakerRepository(ctx.conn).create(ctx.actor, ctx.uuid("uuid"), body.label, body.display_name)


@router.delete("/api/speakers/{uuid}", body=SpeakerDeleteIn, status=204)
def delete_speaker(ctx: Ctx, body: SpeakerDeleteIn) -> None:
    """Delete a speaker; its segments move to `move_segments_to`, else 409 while segments still point at it."""
    speaker = ctx.uuid("uuid")
    if body.move_segments_to == speaker:
        # Not expressible in a schema: a conflict between the path and the body, not a malformed value.
        raise Conflict("a speaker cannot take over its own segments", "move_segments_to")
    SpeakerRepository(ctx.conn).delete(ctx.actor, speaker, body.move_segments_to)


@router.get("/api/speakers", query=SpeakersQuery, response=list[SpeakerSummaryOut])
def list_all_speakers(ctx: Ctx, query: SpeakersQuery) -> list[SpeakerSummary]:
    """Your speakers across files, one entry per person with the number of files they speak in (for filters);
    with `file`, the people speaking in that file, yours or shared with you (409 naming `file` when you cannot see
    it)."""
    try:
        return SpeakerRepository(ctx.conn).summary(ctx.actor, query.file)
    except NotFound:  # the query names it, not the path: a reference to nothing of yours
        raise Conflict("no such file you can see", "file") from None


@router.get("/api/speakers/{uuid}/suggestions", response=list[SuggestionOut])
def speaker_suggestions(ctx: Ctx) -> list[Suggestion]:
    """Speaker profiles whose voice matches this speaker, most confident first (rejected ones never return)."""
    return SpeakerRepository(ctx.conn).suggestions(ctx.actor, ctx.uuid("uuid"))


@router.post("/api/speakers/{uuid}/suggestions/{profile_uuid}/accept", response=SpeakerOut)
def accept_suggestion(ctx: Ctx) -> Speaker:
    """This speaker is the profile's person: link and verify it; the profile learns its voice."""
    return SpeakerRepository(ctx.conn).accept_suggestion(ctx.actor, ctx.uuid("uuid"), ctx.uuid("profile_uuid"))


@router.post("/api/speakers/{uuid}/suggestions/{profile_uuid}/reject", status=204)
def reject_suggestion(ctx: Ctx) -> None:
    """This speaker is not the profile's person: never suggested again, and an automatic link to it goes."""
    SpeakerRepository(ctx.conn).reject_suggestion(ctx.actor, ctx.uuid("uuid"), ctx.uuid("profile_uuid"))


@router.post("/api/speakers/{uuid}/remember", body=RememberIn, response=SpeakerOut)
def remember_voice(ctx: Ctx, body: RememberIn) -> Speaker:
    """Remember this voice: link the speaker to your profile of that name (created when there is none) and verify
    it, so the profile learns the voice and recognises it in your next recordings. 409 naming `name` when neither
    the body nor the speaker has a name."""
    return SpeakerRepository(ctx.conn).remember(ctx.actor, ctx.uuid("uuid"), body.name)
