"""Per-file analytics: the worker stores keywords (and its own speaker_stats) in `analytics`; what the API serves
per speaker (talk time and share, words, words per minute, turns, longest monologue, interruptions, questions) and
the file's silence ratio are computed by SQL at read time from the segments (sql/analytics.sql), so an edit of a
segment or speaker is reflected as soon as it is made: nothing is stored that could go stale."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from repo import statements as s
from repo.database import Connection
from repo.errors import NotFound
from repo.rows import Actor


@dataclass(frozen=True, slots=True)
class Analytics:
    id: int
    media_file_id: int
    speaker_stats: dict[str, Any]
    keywords: list[Any]
    sentiment: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class SpeakerStats:
    speaker_uuid: UUID | None  # None: the segments that have no speaker
    label: str | None
    name: str | None
    talk_time: float
    share: float
    words: int
    words_per_minute: float | None
    turns: int
    longest_monologue: float
    interruptions: int
    questions: int


@dataclass(frozen=True, slots=True)
class FileTotals:
    file_uuid: UUID
    duration: float
    speech_time: float
    silence_ratio: float | None
    segment_count: int
    diarization: str | None
    keywords: list[Any]


@dataclass(frozen=True, slots=True)
class FileAnalytics:
    totals: FileTotals
    speakers: list[SpeakerStats]


_upsert = s.one("analytics.upsert", Analytics)
_file_totals = s.one_or_none("analytics.file_totals", FileTotals)
_speaker_stats = s.many("analytics.speaker_stats", SpeakerStats)
_delete_for_file = s.rowcount("analytics.delete_for_file")


class AnalyticsRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def upsert(
        self, file_id: int, speaker_stats: dict[str, Any], keywords: list[Any], sentiment: dict[str, Any] | None
    ) -> Analytics:
        """For the worker: computing a file's analytics again replaces them."""
        return _upsert(
            self.conn,
            file_id=file_id,
            speaker_stats=Jsonb(speaker_stats),
            keywords=Jsonb(keywords),
            sentiment=Jsonb(sentiment) if sentiment is not None else None,
        )

    def delete_for_file(self, file_id: int) -> int:
        return _delete_for_file(self.conn, file_id=file_id)

    def for_file(self, actor: Actor, file_uuid: UUID) -> FileAnalytics:
        """The file's analytics as of now (two queries, one snapshot when called in a transaction)."""
        totals = _file_totals(self.conn, file_uuid=file_uuid, **actor.scope())
        if totals is None:
            raise NotFound("media file not found")
        return FileAnalytics(totals, _speaker_stats(self.conn, file_uuid=file_uuid, **actor.scope()))
