"""Per-user settings: a registry of known keys with pydantic types and defaults, stored as jsonb.

A key that was never set reads as its default; a stored value that no longer validates (the type of a key changed)
also reads as the default, so old rows never break a page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal
from uuid import UUID

from psycopg.types.json import Jsonb
from pydantic import Field, TypeAdapter, ValidationError
from pydantic_core import PydanticSerializationError

from repo import statements as s
from repo.database import Connection
from repo.errors import Invalid
from repo.rows import Actor
from transcript.choices import MAX_VOCABULARY_CHARS, Task


@dataclass(frozen=True, slots=True)
class SettingSpec:
    adapter: TypeAdapter[Any]
    default: Any
    description: str


def _spec(type_: Any, default: Any, description: str) -> SettingSpec:
    return SettingSpec(TypeAdapter(type_), default, description)


SETTINGS: dict[str, SettingSpec] = {
    "summary.auto": _spec(bool, False, "summarise every file when its transcription completes"),
    "summary.active_prompt": _spec(UUID | None, None, "the prompt used for summaries (None: the system default)"),
    "ui.theme": _spec(Literal["light", "dark", "system"], "system", "colour scheme"),
    "ui.language": _spec(Annotated[str, Field(min_length=2, max_length=35)], "en", "interface language (BCP 47)"),
    "recording.max_minutes": _spec(Annotated[int, Field(ge=1, le=600)], 120, "longest browser recording"),
    "recording.quality": _spec(Literal["low", "medium", "high"], "high", "browser recording quality"),
    "transcription.language": _spec(
        Annotated[str, Field(min_length=2, max_length=35)] | None, None, "spoken language (None: detect)"
    ),
    # Defaults of an upload's processing choices (transcript/choices.py); an upload's own choices win.
    "transcription.model": _spec(
        Annotated[str, Field(min_length=1, max_length=500)] | None,
        None,
        "speech model for new uploads (None: the server's configured model)",
    ),
    "transcription.task": _spec(Task, "transcribe", "transcribe, or translate the speech into English"),
    "transcription.vocabulary": _spec(
        Annotated[str, Field(max_length=MAX_VOCABULARY_CHARS)] | None,
        None,
        "names and terms the speech engine should spell as given",
    ),
    "diarization.enabled": _spec(bool, True, "split new transcripts between speakers"),
    "match.auto_assign": _spec(
        Annotated[float, Field(ge=0, le=1)], 0.80, "voice similarity at which a speaker is linked to a profile"
    ),
    "match.suggest": _spec(
        Annotated[float, Field(ge=0, le=1)], 0.65, "voice similarity at which a profile is suggested for a speaker"
    ),
}


@dataclass(frozen=True, slots=True)
class StoredSetting:
    key: str
    value: Any


_ANY: TypeAdapter[Any] = TypeAdapter(Any)
_get = s.one_or_none("user_settings.get", StoredSetting)
_list_for_user = s.many("user_settings.list_for_user", StoredSetting)
_upsert = s.one("user_settings.upsert", StoredSetting)
_delete = s.rowcount("user_settings.delete")


def spec_for(key: str) -> SettingSpec:
    try:
        return SETTINGS[key]
    except KeyError:
        raise Invalid(f"unknown setting {key!r}", key) from None


def validate(key: str, value: Any) -> Any:
    """The value as the key's type; strict JSON rules (no "yes" for a bool, no 1.5 for an int)."""
    spec = spec_for(key)
    try:
        as_json = _ANY.dump_json(value)
    except PydanticSerializationError as exc:
        raise Invalid(f"{key}: not a JSON value", key) from exc
    try:
        return spec.adapter.validate_json(as_json, strict=True)
    except ValidationError as exc:
        raise Invalid(f"{key}: {exc.errors()[0]['msg']}", key) from exc


def _stored_or_default(key: str, stored: Any) -> Any:
    spec = SETTINGS[key]
    try:
        return spec.adapter.validate_python(stored)
    except ValidationError:
        return spec.default


class SettingsRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get(self, actor: Actor, key: str) -> Any:
        spec = spec_for(key)
        row = _get(self.conn, actor_id=actor.id, key=key)
        return spec.default if row is None else _stored_or_default(key, row.value)

    def get_all(self, actor: Actor) -> dict[str, Any]:
        """Every known key, stored value or default; stored keys no longer in the registry are left out."""
        values = {key: spec.default for key, spec in SETTINGS.items()}
        for row in _list_for_user(self.conn, actor_id=actor.id):
            if row.key in SETTINGS:
                values[row.key] = _stored_or_default(row.key, row.value)
        return values

    def set(self, actor: Actor, key: str, value: Any) -> Any:
        """Validate and store; returns the value as stored (e.g. a UUID for a uuid string)."""
        typed = validate(key, value)
        spec = SETTINGS[key]
        row = _upsert(self.conn, actor_id=actor.id, key=key, value=Jsonb(spec.adapter.dump_python(typed, mode="json")))
        return _stored_or_default(key, row.value)

    def set_many(self, actor: Actor, values: dict[str, Any]) -> dict[str, Any]:
        """All or nothing: every value is validated before any is written."""
        typed = {key: validate(key, value) for key, value in values.items()}
        with self.conn.transaction():
            for key, value in typed.items():
                self.set(actor, key, value)
        return self.get_all(actor)

    def reset(self, actor: Actor, key: str) -> Any:
        """Forget the stored value; returns the default the key now reads as."""
        spec = spec_for(key)
        _delete(self.conn, actor_id=actor.id, key=key)
        return spec.default
