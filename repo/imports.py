"""Writing rows brought over from another platform (sql/imports.sql), and remembering where each came from.

The importer (importers/) reads the other platform's database and maps its values; this module only writes, one
named query per kind of row, each matching an existing row by its natural key instead of duplicating it and saying
which of the two it did (`Written.created`). `Origins` is the map from a source table's keys to what they became
here (our id, or the text key of a row without one: a link row's "a,b", a task's id), with which of those a user
has deleted since: what makes a later run skip what an earlier one copied, and never put back what a user removed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg.types.json import Jsonb

from repo import statements as s
from repo.database import Connection

Target = int | str  # our id, or the key of a row without an id of its own
# One transcript line as the importer hands it over: (source key, speaker id, start, end, text, words or None).
# Written once here; when the transcript vocabulary moves to its own module, this is the one place to change.
Line = tuple[str, int | None, float, float, str, list[Any] | None]


@dataclass(frozen=True, slots=True)
class Written:
    target: Target
    created: bool  # False: an existing row with the same natural key was matched


@dataclass(frozen=True, slots=True)
class SegmentOutcome:
    """How one file's transcript lines went: counted once each."""

    copied: int
    present: int  # remembered from an earlier run and still here, or matched to an identical line here
    gone: int  # remembered from an earlier run, deleted here since
    missed: int  # neither inserted nor matched: a line written concurrently by someone else


@dataclass(frozen=True, slots=True)
class _Origin:
    source_key: str
    target_id: int | None
    target_key: str | None
    present: bool | None


@dataclass(frozen=True, slots=True)
class _Made:
    id: int
    created: bool


_origins = s.many("imports.origins", _Origin)
_remember = s.execute("imports.remember")
_user = s.one("imports.user", _Made)
_media_file = s.scalar("imports.media_file", int)
_tag = s.one("imports.tag", _Made)
_file_tag = s.rowcount("imports.file_tag")
_speaker_profile = s.one("imports.speaker_profile", _Made)
_speaker = s.one("imports.speaker", _Made)
_speaker_collection = s.one("imports.speaker_collection", _Made)
_speaker_collection_member = s.rowcount("imports.speaker_collection_member")
_segments = s.one("imports.segments", SegmentOutcome)
_comment = s.scalar("imports.comment", int)
_task = s.rowcount("imports.task")
_analytics = s.one("imports.analytics", _Made)
_collection = s.one("imports.collection", _Made)
_collection_member = s.rowcount("imports.collection_member")
_speaker_match = s.one("imports.speaker_match", _Made)
_prompt = s.one("imports.prompt", _Made)
_setting = s.one("imports.setting", _Made)
_activate_llm_config = s.rowcount("imports.activate_llm_config")
_file_summary = s.scalar("imports.file_summary", int)

JSON_COLUMNS = (
    "metadata_raw", "metadata_important", "waveform_data", "speaker_stats", "keywords", "sentiment", "major_topics",
    "action_items", "key_decisions", "follow_up_items",
)  # fmt: skip


def _jsonb(values: dict[str, Any]) -> dict[str, Any]:
    return {k: Jsonb(v) if k in JSON_COLUMNS and v is not None else v for k, v in values.items()}


def _made(made: _Made) -> Written:
    return Written(made.id, made.created)


def _link(a: int, b: int, added: int) -> Written:
    return Written(f"{a},{b}", added > 0)


class Origins:
    """Which rows of one source table were copied by any run, to what, and which of those are gone here."""

    def __init__(self, conn: Connection, source: str, table: str, target_table: str) -> None:
        self.source, self.table = source, table
        rows = _origins(conn, source=source, source_table=table, target_table=target_table)
        if any(o.present is None for o in rows):
            raise ValueError(f"imports.origins cannot tell whether rows of {target_table} still exist")
        self.targets: dict[str, Target] = {
            o.source_key: o.target_id if o.target_id is not None else str(o.target_key) for o in rows
        }
        self.gone = {o.source_key for o in rows if not o.present}

    def __contains__(self, key: object) -> bool:
        return str(key) in self.targets

    def target(self, key: object) -> Target | None:
        return self.targets.get(str(key))

    def is_gone(self, key: object) -> bool:
        return str(key) in self.gone

    def remember(self, conn: Connection, key: object, target: Target) -> None:
        """Written in the transaction (or savepoint) that wrote the row: both stay, or neither."""
        _remember(
            conn,
            source=self.source,
            source_table=self.table,
            source_key=str(key),
            target_id=target if isinstance(target, int) else None,
            target_key=target if isinstance(target, str) else None,
        )
        self.targets[str(key)] = target


class ImportRepository:
    """One method per kind of row; each returns what it wrote (or matched)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def origins(self, source: str, table: str, target_table: str) -> Origins:
        return Origins(self.conn, source, table, target_table)

    def user(self, **values: Any) -> Written:
        return _made(_user(self.conn, **values))

    def media_file(self, **values: Any) -> Written:
        return Written(_media_file(self.conn, **_jsonb(values)), True)

    def tag(self, **values: Any) -> Written:
        return _made(_tag(self.conn, **values))

    def file_tag(self, *, media_file_id: int, tag_id: int, created_at: Any) -> Written:
        added = _file_tag(self.conn, media_file_id=media_file_id, tag_id=tag_id, created_at=created_at)
        return _link(media_file_id, tag_id, added)

    def speaker_profile(self, **values: Any) -> Written:
        return _made(_speaker_profile(self.conn, **values))

    def speaker(self, **values: Any) -> Written:
        return _made(_speaker(self.conn, **values))

    def speaker_collection(self, **values: Any) -> Written:
        return _made(_speaker_collection(self.conn, **values))

    def speaker_collection_member(self, *, collection_id: int, profile_id: int, added_at: Any) -> Written:
        added = _speaker_collection_member(
            self.conn, collection_id=collection_id, profile_id=profile_id, added_at=added_at
        )
        return _link(collection_id, profile_id, added)

    def segments(self, source: str, source_table: str, media_file_id: int, rows: list[Line]) -> SegmentOutcome:
        """One file's lines, remembered under `source_table`'s keys."""
        return _segments(
            self.conn,
            source=source,
            source_table=source_table,
            media_file_id=media_file_id,
            source_keys=[r[0] for r in rows],
            speaker_ids=[r[1] for r in rows],
            starts=[r[2] for r in rows],
            ends=[r[3] for r in rows],
            texts=[r[4] for r in rows],
            words=[None if r[5] is None else Jsonb(r[5]) for r in rows],
        )

    def comment(self, **values: Any) -> Written:
        return Written(_comment(self.conn, **values), True)

    def task(self, **values: Any) -> Written:
        return Written(str(values["id"]), _task(self.conn, **values) > 0)

    def analytics(self, **values: Any) -> Written:
        return _made(_analytics(self.conn, **_jsonb(values)))

    def collection(self, **values: Any) -> Written:
        return _made(_collection(self.conn, **values))

    def collection_member(self, *, collection_id: int, media_file_id: int, added_at: Any) -> Written:
        added = _collection_member(
            self.conn, collection_id=collection_id, media_file_id=media_file_id, added_at=added_at
        )
        return _link(collection_id, media_file_id, added)

    def speaker_match(self, **values: Any) -> Written:
        return _made(_speaker_match(self.conn, **values))

    def prompt(self, **values: Any) -> Written:
        return _made(_prompt(self.conn, **values))

    def setting(self, *, value: Any, **values: Any) -> Written:
        return _made(_setting(self.conn, value=Jsonb(value), **values))

    def activate_llm_config(self, config_id: int) -> bool:
        return _activate_llm_config(self.conn, id=config_id) > 0

    def file_summary(self, **values: Any) -> Written:
        return Written(_file_summary(self.conn, **_jsonb(values)), True)
