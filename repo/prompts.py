"""Summary prompts: system prompts (no owner, visible to everyone, edited by admins) and each user's own.

A prompt declares the shape of its answer (`output_format`): "bluf" (the fixed keys), "json" (an object matching its
`output_schema`, a JSON Schema: required with json, refused otherwise) or "markdown" (free text)."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal, get_args
from uuid import UUID

from psycopg.types.json import Jsonb

from repo import statements as s
from repo.database import Connection
from repo.errors import Conflict, Invalid, NotFound
from repo.rows import Actor, strip_white

ContentType = Literal["general", "meeting", "interview", "podcast", "documentary", "lecture", "speaker_identification"]
CONTENT_TYPES: Final = frozenset(get_args(ContentType))
OutputFormat = Literal["bluf", "json", "markdown"]
OUTPUT_FORMATS: Final = frozenset(get_args(OutputFormat))
ACTIVE_PROMPT_SETTING: Final = "summary.active_prompt"


@dataclass(frozen=True, slots=True)
class Prompt:
    id: int
    uuid: UUID
    user_id: int | None
    name: str
    description: str | None
    prompt_text: str
    content_type: str
    output_format: str
    output_schema: dict[str, Any] | None
    is_system_default: bool
    is_active: bool
    created_at: datetime
    updated_at: datetime

    @property
    def is_system(self) -> bool:
        return self.user_id is None


@dataclass(frozen=True, slots=True)
class DeletedPrompt:
    is_system_default: bool


_list_visible = s.many("prompts.list_visible", Prompt)
_get = s.one("prompts.get", Prompt)
_get_by_id = s.one("prompts.get_by_id", Prompt)
_create = s.one("prompts.create", Prompt)
_update = s.one("prompts.update", Prompt)
_delete = s.one_or_none("prompts.delete", DeletedPrompt)
_activate = s.one("prompts.activate", Prompt)
_active = s.one("prompts.active", Prompt)


def _check_content_type(content_type: str | None) -> None:
    if content_type is not None and content_type not in CONTENT_TYPES:
        raise Invalid(f"content_type must be one of {', '.join(sorted(CONTENT_TYPES))}", "content_type")


def _check_shape(output_format: str, output_schema: dict[str, Any] | None) -> None:
    """The rule between the two fields (each valid alone): a schema with json and only with json."""
    if output_format not in OUTPUT_FORMATS:
        raise Invalid(f"output_format must be one of {', '.join(sorted(OUTPUT_FORMATS))}", "output_format")
    if output_format == "json" and output_schema is None:
        raise Conflict("a prompt whose output_format is json needs an output_schema (a JSON Schema)", "output_schema")
    if output_format != "json" and output_schema is not None:
        raise Conflict(f"output_schema goes with output_format json, not {output_format}", "output_schema")


def _name_conflict(exc: Conflict) -> Conflict:
    return Conflict("a prompt with this name already exists", "name") if exc.field == "user_id_name" else exc


class PromptRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def list(self, actor: Actor, content_type: str | None = None) -> builtins.list[Prompt]:
        _check_content_type(content_type)
        return _list_visible(self.conn, actor_id=actor.id, content_type=content_type)

    def get(self, actor: Actor, uuid: UUID) -> Prompt:
        return _get(self.conn, uuid=uuid, actor_id=actor.id)

    def get_by_id(self, prompt_id: int) -> Prompt:
        """For the worker, which runs for the summary's owner; never reached by a user's request."""
        return _get_by_id(self.conn, id=prompt_id)

    def create(
        self,
        actor: Actor,
        name: str,
        prompt_text: str,
        content_type: str = "general",
        description: str | None = None,
        output_format: str = "bluf",
        output_schema: dict[str, Any] | None = None,
    ) -> Prompt:
        _check_content_type(content_type)
        _check_shape(output_format, output_schema)
        try:
            return _create(
                self.conn,
                actor_id=actor.id,
                name=strip_white(name),
                description=description or None,
                prompt_text=prompt_text,
                content_type=content_type,
                output_format=output_format,
                output_schema=Jsonb(output_schema) if output_schema is not None else None,
            )
        except Conflict as exc:
            raise _name_conflict(exc) from exc

    def update(
        self,
        actor: Actor,
        uuid: UUID,
        *,
        name: str | None = None,
        prompt_text: str | None = None,
        content_type: str | None = None,
        description: str | None = None,
        is_active: bool | None = None,
        output_format: str | None = None,
        output_schema: dict[str, Any] | None = None,
    ) -> Prompt:
        """None leaves a field unchanged; description "" clears it. System prompts: admins only. A format other
        than json drops the schema; a schema needs the format json (given, or the prompt's)."""
        _check_content_type(content_type)
        if output_format is not None or output_schema is not None:
            current = self.get(actor, uuid)
            _check_shape(
                output_format or current.output_format,
                output_schema
                if output_schema is not None
                else (current.output_schema if (output_format or current.output_format) == "json" else None),
            )
        try:
            return _update(
                self.conn,
                uuid=uuid,
                name=strip_white(name) if name is not None else None,
                description=description,
                prompt_text=prompt_text,
                content_type=content_type,
                is_active=is_active,
                output_format=output_format,
                output_schema=Jsonb(output_schema) if output_schema is not None else None,
                actor_id=actor.id,
                actor_is_admin=actor.is_admin,  # admins edit the system prompts: power not about files
            )
        except Conflict as exc:
            raise _name_conflict(exc) from exc

    def delete(self, actor: Actor, uuid: UUID) -> None:
        deleted = _delete(self.conn, uuid=uuid, actor_id=actor.id, actor_is_admin=actor.is_admin)
        if deleted is None:
            raise NotFound("prompt not found")
        if deleted.is_system_default:
            raise Conflict("a system default prompt cannot be deleted; edit it instead", "is_system_default")

    def activate(self, actor: Actor, uuid: UUID) -> Prompt:
        """Use this prompt for the actor's summaries (stored as the setting summary.active_prompt)."""
        return _activate(self.conn, uuid=uuid, actor_id=actor.id)

    def active(self, actor: Actor, content_type: str = "general") -> Prompt:
        _check_content_type(content_type)
        return _active(self.conn, content_type=content_type, actor_id=actor.id)
