"""Per-file analytics (talk time, words and turns per speaker, keywords, sentiment), written by the worker."""

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


_upsert = s.one("analytics.upsert", Analytics)
_get_for_file = s.one_or_none("analytics.get_for_file", Analytics)
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

    def get(self, actor: Actor, file_uuid: UUID) -> Analytics:
        """NotFound both when the file is not the actor's and when its analytics are not computed yet."""
        found = _get_for_file(self.conn, file_uuid=file_uuid, **actor.scope())
        if found is None:
            raise NotFound("analytics not found")
        return found

    def delete_for_file(self, file_id: int) -> int:
        return _delete_for_file(self.conn, file_id=file_id)
