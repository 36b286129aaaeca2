"""Writing rows brought over from another platform (sql/imports.sql), and remembering where each came from.

The importer (importers/) reads the other platform's database and maps its values; this module only writes, one
named query per kind of row, each matching an existing row by its natural key instead of duplicating it. `Origins`
is the map from a source table's keys to our ids that makes a second run skip what the first one copied.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg.types.json import Jsonb

from repo import statements as s
from repo.database import Connection


@dataclass(frozen=True, slots=True)
class _Origin:
    source_key: str
    target_id: int


_origins = s.many("imports.origins", _Origin)
_remember = s.execute("imports.remember")
_user = s.scalar("imports.user", int)
_media_file = s.scalar("imports.media_file", int)
_tag = s.scalar("imports.tag", int)
_file_tag = s.rowcount("imports.file_tag")
_speaker_profile = s.scalar("imports.speaker_profile", int)
_speaker = s.scalar("imports.speaker", int)
_speaker_collection = s.scalar("imports.speaker_collection", int)
_speaker_collection_member = s.rowcount("imports.speaker_collection_member")
_segments = s.rowcount("imports.segments")
_comment = s.scalar("imports.comment", int)
_task = s.rowcount("imports.task")
_analytics = s.rowcount("imports.analytics")
_collection = s.scalar("imports.collection", int)
_collection_member = s.rowcount("imports.collection_member")
_speaker_match = s.rowcount("imports.speaker_match")
_prompt = s.scalar("imports.prompt", int)
_setting = s.scalar("imports.setting", int)
_activate_llm_config = s.rowcount("imports.activate_llm_config")

JSON_COLUMNS = ("metadata_raw", "metadata_important", "waveform_data", "speaker_stats", "keywords", "sentiment")


def _jsonb(values: dict[str, Any]) -> dict[str, Any]:
    return {k: Jsonb(v) if k in JSON_COLUMNS and v is not None else v for k, v in values.items()}


class Origins:
    """Which source rows of one table were copied, and to which of our ids."""

    def __init__(self, conn: Connection, source: str, table: str) -> None:
        self.conn, self.source, self.table = conn, source, table
        self.ids = {o.source_key: o.target_id for o in _origins(conn, source=source, source_table=table)}

    def get(self, key: object) -> int | None:
        return self.ids.get(str(key))

    def __contains__(self, key: object) -> bool:
        return str(key) in self.ids

    def remember(self, key: object, target_id: int) -> None:
        _remember(self.conn, source=self.source, source_table=self.table, source_key=str(key), target_id=target_id)
        self.ids[str(key)] = target_id


class ImportRepository:
    """One method per kind of row; each returns our id (or how many rows it added)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def origins(self, source: str, table: str) -> Origins:
        return Origins(self.conn, source, table)

    def user(self, **values: Any) -> int:
        return _user(self.conn, **values)

    def media_file(self, **values: Any) -> int:
        return _media_file(self.conn, **_jsonb(values))

    def tag(self, **values: Any) -> int:
        return _tag(self.conn, **values)

    def file_tag(self, **values: Any) -> int:
        return _file_tag(self.conn, **values)

    def speaker_profile(self, **values: Any) -> int:
        return _speaker_profile(self.conn, **values)

    def speaker(self, **values: Any) -> int:
        return _speaker(self.conn, **values)

    def speaker_collection(self, **values: Any) -> int:
        return _speaker_collection(self.conn, **values)

    def speaker_collection_member(self, **values: Any) -> int:
        return _speaker_collection_member(self.conn, **values)

    def segments(self, media_file_id: int, rows: list[tuple[int | None, float, float, str, Any]]) -> int:
        """One file's segments as (speaker id, start, end, text, words or None); returns how many were new."""
        return _segments(
            self.conn,
            media_file_id=media_file_id,
            speaker_ids=[r[0] for r in rows],
            starts=[r[1] for r in rows],
            ends=[r[2] for r in rows],
            texts=[r[3] for r in rows],
            words=[None if r[4] is None else Jsonb(r[4]) for r in rows],
        )

    def comment(self, **values: Any) -> int:
        return _comment(self.conn, **values)

    def task(self, **values: Any) -> int:
        return _task(self.conn, **values)

    def analytics(self, **values: Any) -> int:
        return _analytics(self.conn, **_jsonb(values))

    def collection(self, **values: Any) -> int:
        return _collection(self.conn, **values)

    def collection_member(self, **values: Any) -> int:
        return _collection_member(self.conn, **values)

    def speaker_match(self, **values: Any) -> int:
        return _speaker_match(self.conn, **values)

    def prompt(self, **values: Any) -> int:
        return _prompt(self.conn, **values)

    def setting(self, *, value: Any, **values: Any) -> int:
        return _setting(self.conn, value=Jsonb(value), **values)

    def activate_llm_config(self, config_id: int) -> bool:
        return _activate_llm_config(self.conn, id=config_id) > 0
