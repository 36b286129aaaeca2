"""Summary prompts: the system prompts everyone sees (admins edit them) and each user's own prompts.

A prompt's `output_format` says what shape its summaries take: "bluf" (fixed keys), "json" (an object matching its
`output_schema`, which must be a JSON Schema: a 422 names the path in it that is wrong) or "markdown"."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from llm.structured import SchemaInvalid, check_schema
from repo.errors import Conflict, NotFound
from repo.prompts import ContentType, OutputFormat, Prompt, PromptRepository
from web.audit_trail import audit
from web.endpoint import Ctx, Router
from web.errors import Forbidden
from web.fields import NOT_BLANK, TRIMMED, TRIMMED_NOT_BLANK

router = Router("prompts")

Name = Annotated[str, StringConstraints(min_length=1, max_length=200), NOT_BLANK, TRIMMED_NOT_BLANK]
PromptText = Annotated[str, StringConstraints(min_length=1, max_length=100_000)]
Description = Annotated[str, StringConstraints(max_length=2000), TRIMMED]
MAX_SCHEMA_CHARS = 20_000


def _a_json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON Schema (draft 2020-12) of an object; the error names the path inside it."""
    try:
        check_schema(schema)
    except SchemaInvalid as exc:
        raise ValueError(str(exc)) from None
    if len(json.dumps(schema)) > MAX_SCHEMA_CHARS:
        raise ValueError(f"at most {MAX_SCHEMA_CHARS:,} characters of JSON")
    return schema


OutputSchema = Annotated[dict[str, Any], AfterValidator(_a_json_schema)]
FORMAT_HELP = "bluf (fixed keys, the default), json (an object matching output_schema) or markdown (free text)"
SCHEMA_HELP = "a JSON Schema (draft 2020-12) of an object; required with output_format json, refused otherwise"


class PromptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    prompt_text: PromptText = Field(description="may use the placeholders {transcript} and {speaker_data}")
    content_type: ContentType = "general"
    description: Description | None = None
    output_format: OutputFormat = Field(default="bluf", description=FORMAT_HELP)
    output_schema: OutputSchema | None = Field(default=None, description=SCHEMA_HELP)


class PromptUpdateIn(BaseModel):
    """Absent or null fields stay as they are; description "" clears it."""

    model_config = ConfigDict(extra="forbid")
    name: Name | None = None
    prompt_text: PromptText | None = None
    content_type: ContentType | None = None
    description: Description | None = None
    is_active: bool | None = None
    output_format: OutputFormat | None = Field(
        default=None, description=FORMAT_HELP + "; another than json drops the schema"
    )
    output_schema: OutputSchema | None = Field(default=None, description=SCHEMA_HELP)


class PromptListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    content_type: ContentType | None = None


class ActivePromptQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    content_type: ContentType = "general"


class PromptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    uuid: UUID
    name: str
    description: str | None
    prompt_text: str
    content_type: str
    output_format: str
    output_schema: dict[str, Any] | None
    is_system: bool = Field(description="a system prompt, shared by everyone and edited by administrators")
    is_system_default: bool
    is_active: bool
    created_at: datetime
    updated_at: datetime


def _writable(ctx: Ctx, repository: PromptRepository, uuid: UUID) -> None:
    """Your own prompts are yours to change; system prompts only an administrator's (visible, yet 403)."""
    if repository.get(ctx.actor, uuid).is_system and not ctx.actor.is_admin:
        raise Forbidden("system prompts can be changed only by administrators")


@router.get("/api/prompts", query=PromptListQuery, response=list[PromptOut])
def list_prompts(ctx: Ctx, query: PromptListQuery) -> list[Prompt]:
    """The system prompts, then your own."""
    return PromptRepository(ctx.conn).list(ctx.actor, query.content_type)


@router.post("/api/prompts", body=PromptIn, response=PromptOut, status=201, raises=(Conflict,))
def create_prompt(ctx: Ctx, body: PromptIn) -> Prompt:
    """Write a prompt of your own."""
    return create(ctx, body)


def _recorded(ctx: Ctx, action: str, prompt: Prompt) -> None:
    """A prompt's change on the audit trail: which one (its name, whether a system prompt), not its text."""
    details = {
        "name": prompt.name,
        "content_type": prompt.content_type,
        "output_format": prompt.output_format,
        "system": prompt.is_system,
    }
    audit(ctx, f"prompt.{action}", object_type="prompt", object_id=prompt.uuid, details=details)


def create(ctx: Ctx, body: PromptIn) -> Prompt:
    """A new prompt of the caller's (the JSON route and the settings page), recorded as `prompt.create`."""
    created = PromptRepository(ctx.conn).create(
        ctx.actor,
        body.name,
        body.prompt_text,
        body.content_type,
        body.description or None,
        body.output_format,
        body.output_schema,
    )
    _recorded(ctx, "create", created)
    return created


def activate(ctx: Ctx, prompt_uuid: UUID) -> Prompt:
    """Use a prompt for the caller's summaries (the JSON route and the settings page): `prompt.activate`."""
    activated = PromptRepository(ctx.conn).activate(ctx.actor, prompt_uuid)
    _recorded(ctx, "activate", activated)
    return activated


@router.get("/api/prompts/active", query=ActivePromptQuery, response=PromptOut, raises=(NotFound,))
def active_prompt(ctx: Ctx, query: ActivePromptQuery) -> Prompt:
    """The prompt your summaries of this content type use."""
    return PromptRepository(ctx.conn).active(ctx.actor, query.content_type)


@router.get("/api/prompts/{uuid}", response=PromptOut)
def get_prompt(ctx: Ctx) -> Prompt:
    """One prompt."""
    return PromptRepository(ctx.conn).get(ctx.actor, ctx.uuid("uuid"))


@router.put("/api/prompts/{uuid}", body=PromptUpdateIn, response=PromptOut, raises=(Forbidden, Conflict))
def update_prompt(ctx: Ctx, body: PromptUpdateIn) -> Prompt:
    """Change a prompt."""
    repository, uuid = PromptRepository(ctx.conn), ctx.uuid("uuid")
    _writable(ctx, repository, uuid)
    updated = repository.update(
        ctx.actor,
        uuid,
        name=body.name,
        prompt_text=body.prompt_text,
        content_type=body.content_type,
        description=body.description,
        is_active=body.is_active,
        output_format=body.output_format,
        output_schema=body.output_schema,
    )
    _recorded(ctx, "update", updated)
    return updated


@router.delete("/api/prompts/{uuid}", status=204, raises=(Forbidden,))
def delete_prompt(ctx: Ctx) -> None:
    """Delete a prompt (a system default cannot be deleted)."""
    repository, uuid = PromptRepository(ctx.conn), ctx.uuid("uuid")
    _writable(ctx, repository, uuid)
    prompt = repository.get(ctx.actor, uuid)
    repository.delete(ctx.actor, uuid)
    _recorded(ctx, "delete", prompt)


@router.post("/api/prompts/{uuid}/activate", response=PromptOut)
def activate_prompt(ctx: Ctx) -> Prompt:
    """Use this prompt for your summaries."""
    return activate(ctx, ctx.uuid("uuid"))
