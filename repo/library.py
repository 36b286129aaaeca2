"""The library's filters: what a user may narrow their files down by, shared by the file list and search.

A `LibraryFilter` is validated once here and becomes the same SQL parameters in `media_files.list_page` and
`search.search` (the predicate itself is written in both queries; see sql/media_files.sql). `filter_values`
reads, in one statement, what a filter UI offers: tags, topics, speakers and profiles with file counts, and the bounds
of durations and dates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from repo import statements as s
from repo.database import Connection
from repo.errors import Invalid
from repo.rows import Actor

MediaType = Literal["audio", "video"]
SortKey = Literal["upload_time", "title", "duration"]
Shared = Literal["me", "mine"]  # files others shared with the actor / the actor's own
STATUSES = ("pending", "queued", "processing", "completed", "error", "cancelling", "cancelled", "orphaned")
MAX_TAGS = 20
MAX_TEXT = 200


def _clean_list(values: Sequence[str] | None, name: str, limit: int) -> list[str] | None:
    cleaned = list(dict.fromkeys(v.strip() for v in values or () if v.strip()))
    if len(cleaned) > limit:
        raise Invalid(f"at most {limit} values", name)
    return cleaned or None


def _clean_text(value: str | None, name: str) -> str | None:
    text = (value or "").replace("\x00", " ").strip()
    if len(text) > MAX_TEXT:
        raise Invalid(f"at most {MAX_TEXT} characters", name)
    return text or None


@dataclass(frozen=True)
class LibraryFilter:
    """Every condition is optional; given ones all hold (tags: all of them, or any with tags_any).

    Ranges: durations are inclusive at both ends, dates include `*_from` and exclude `*_to`. `speaker` is a
    speaker's shown name or a profile's name (case does not matter), `transcript` is web-search syntax matched
    against the transcript's full-text index. Video files are those with a video content type or a picture size.
    `shared`: "me" keeps the files others shared with the actor, "mine" the actor's own. `topic`: files with a
    topic of that label (repo/topics.py; case does not matter).
    """

    statuses: Sequence[str] | None = None
    tags: Sequence[str] | None = None
    tags_any: bool = False
    collection: UUID | None = None
    speaker: str | None = None
    profile_uuid: UUID | None = None
    duration_min: float | None = None
    duration_max: float | None = None
    uploaded_from: datetime | None = None
    uploaded_to: datetime | None = None
    recorded_from: datetime | None = None
    recorded_to: datetime | None = None
    media_type: MediaType | None = None
    transcript: str | None = None
    shared: Shared | None = None
    topic: str | None = None

    def params(self) -> dict[str, Any]:
        """The SQL parameters of the shared predicate; Invalid naming the field for a bad value."""
        statuses = _clean_list(self.statuses, "status", len(STATUSES))
        unknown = [x for x in statuses or () if x not in STATUSES]
        if unknown:
            raise Invalid(f"unknown status {unknown[0]!r}; expected some of {', '.join(STATUSES)}", "status")
        for name in ("duration_min", "duration_max"):
            value = getattr(self, name)
            if value is not None and not 0 <= value < float("inf"):
                raise Invalid("a duration is a non-negative number of seconds", name)
        if self.duration_min is not None and self.duration_max is not None and self.duration_min > self.duration_max:
            raise Invalid("duration_min is above duration_max", "duration_min")
        if self.media_type not in (None, "audio", "video"):
            raise Invalid("media_type is audio or video", "media_type")
        if self.shared not in (None, "me", "mine"):
            raise Invalid("shared is me (files shared with you) or mine (your own files)", "shared")
        tags = _clean_list(self.tags, "tags", MAX_TAGS)
        return {
            "statuses": statuses,
            "tags": tags,
            "tags_any": bool(self.tags_any),
            "collection": self.collection,
            "speaker": _clean_text(self.speaker, "speaker"),
            "profile_uuid": self.profile_uuid,
            "duration_min": self.duration_min,
            "duration_max": self.duration_max,
            "uploaded_from": self.uploaded_from,
            "uploaded_to": self.uploaded_to,
            "recorded_from": self.recorded_from,
            "recorded_to": self.recorded_to,
            "media_type": self.media_type,
            "transcript": _clean_text(self.transcript, "transcript"),
            "shared": self.shared,
            "topic": _clean_text(self.topic, "topic"),
        }


@dataclass(frozen=True, slots=True)
class NameCount:
    name: str
    file_count: int


@dataclass(frozen=True, slots=True)
class ProfileCount:
    uuid: UUID
    name: str
    file_count: int


@dataclass(frozen=True, slots=True)
class FilterValues:
    """What a filter UI offers over the actor's files; json_agg children become typed rows here."""

    file_count: int
    tags: list[NameCount]
    topics: list[NameCount]
    speakers: list[NameCount]
    profiles: list[ProfileCount]
    statuses: list[NameCount]
    media_types: list[NameCount]
    duration_min: float | None
    duration_max: float | None
    uploaded_first: datetime | None
    uploaded_last: datetime | None
    recorded_first: datetime | None
    recorded_last: datetime | None

    def __post_init__(self) -> None:
        for name in ("tags", "topics", "speakers", "statuses", "media_types"):
            raw: list[Any] = getattr(self, name)
            object.__setattr__(self, name, [NameCount(x["name"], x["file_count"]) for x in raw])
        profiles: list[Any] = self.profiles
        object.__setattr__(
            self, "profiles", [ProfileCount(UUID(x["uuid"]), x["name"], x["file_count"]) for x in profiles]
        )


_filter_values = s.one("library.filter_values", FilterValues)


def filter_values(conn: Connection, actor: Actor) -> FilterValues:
    return _filter_values(conn, **actor.scope())
