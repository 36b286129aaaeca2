"""A file's analytics: per speaker talk time and share, words, words per minute, turns, longest monologue,
interruptions and questions, and the file's silence ratio; computed from the segments when asked (repo.analytics)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from repo.analytics import AnalyticsRepository
from web.endpoint import Ctx, Router

router = Router("analytics")


class SpeakerStatsOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    speaker_uuid: UUID | None = Field(description="null: the segments without a speaker")
    label: str | None
    name: str | None
    talk_time: float = Field(description="seconds")
    share: float = Field(description="of all talk time, 0 to 1")
    words: int
    words_per_minute: float | None
    turns: int
    longest_monologue: float = Field(description="seconds, the longest turn")
    interruptions: int = Field(description="turns started before the previous speaker's segment ended")
    questions: int = Field(description="segments ending in '?'")


class FileAnalyticsOut(BaseModel):
    file_uuid: UUID
    duration: float
    speech_time: float = Field(description="seconds with anyone speaking (overlaps counted once)")
    silence_ratio: float | None
    segment_count: int
    diarization: str | None = Field(
        description="how speakers were found: diarized, transcript (labels from the sidecar), off, models_missing, "
        "failed; null before processing"
    )
    keywords: list[Any]
    speakers: list[SpeakerStatsOut]


@router.get("/api/files/{uuid}/analytics", response=FileAnalyticsOut)
def file_analytics(ctx: Ctx) -> dict[str, Any]:
    """Talk time, words, turns, interruptions and questions per speaker, and the silence ratio, as of now."""
    found = AnalyticsRepository(ctx.conn).for_file(ctx.actor, ctx.uuid("uuid"))
    totals = found.totals
    return {
        "file_uuid": totals.file_uuid,
        "duration": totals.duration,
        "speech_time": totals.speech_time,
        "silence_ratio": totals.silence_ratio,
        "segment_count": totals.segment_count,
        "diarization": totals.diarization,
        "keywords": totals.keywords,
        "speakers": found.speakers,
    }
