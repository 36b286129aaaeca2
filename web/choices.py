"""Processing choices as requests give them (an upload's form fields, a re-run's JSON body) and as the API shows
them; resolved against the owner's defaults (their settings) or the file's stored choices, and checked so that
anything unknown is a 422 naming the field before anything is stored or queued.

The speech models a user may choose are those on this server (asr/availability.py `model_choices`); the document
lists them as an enum, filled in when the document is first asked for (`specialise_document`), so a client (and
Schemathesis) knows exactly which values are taken. Languages are Whisper's codes, or `auto` (detect), as a pattern.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from asr.availability import model_choices
from asr.languages import CODES, language_code
from config.settings import Settings
from repo.database import Connection
from repo.diarization import DiarizationRepository
from repo.errors import Conflict, Invalid, NotFound
from repo.processing_choices import ProcessingChoicesRepository, ShownChoices
from repo.prompts import Prompt, PromptRepository
from repo.rows import Actor
from repo.user_settings import SettingsRepository
from transcript.choices import MAX_VOCABULARY_CHARS, TASKS, Choices, Task, from_settings
from transcript.speakers import MAX_SPEAKERS, SpeakerHints
from web.endpoint import Ctx
from web.fields import worded

AUTO = "auto"
LANGUAGE_PATTERN = worded(
    "^(" + "|".join([AUTO, *sorted(CODES)]) + ")$", "a language code Whisper knows (such as en, de, ja), or auto"
)
MODEL_MARKER = "x-opentr-speech-models"  # replaced by the enum of present models when the app starts
SpeakerCount = Annotated[int, Field(ge=1, le=MAX_SPEAKERS)]


class ChoicesIn(BaseModel):
    """Choices for a re-run: a field left out keeps the file's stored choice; null goes back to the default (the
    configured model, language detection, no vocabulary, no speaker-count hint, your active prompt)."""

    model_config = ConfigDict(extra="forbid")
    model: Annotated[str, Field(max_length=500)] | None = Field(
        default=None, json_schema_extra={MODEL_MARKER: "json"}, description="a speech model on this server"
    )
    language: Annotated[str, Field(pattern=LANGUAGE_PATTERN)] | None = Field(
        default=None, description="the spoken language (Whisper's code), or `auto` to detect it"
    )
    task: Task | None = Field(default=None, description="`translate`: write the speech as English text")
    vocabulary: Annotated[str, Field(max_length=MAX_VOCABULARY_CHARS)] | None = Field(
        default=None, description=f"names and terms to spell as given (at most {MAX_VOCABULARY_CHARS} characters)"
    )
    num_speakers: SpeakerCount | None = None
    min_speakers: SpeakerCount | None = None
    max_speakers: SpeakerCount | None = None
    diarization: bool | None = Field(default=None, description="split the transcript between speakers")
    summary: bool | None = Field(default=None, description="summarise when the transcript is ready")
    summary_prompt: UUID | None = Field(
        default=None, description="the prompt to summarise with (null: your active one)"
    )


class ChoicesOut(BaseModel):
    """A file's processing choices, as its next re-run repeats them (`stored` false: none were stored with it, and
    its owner's defaults apply)."""

    stored: bool
    model: str | None = Field(description="null: the server's configured model")
    language: str | None = Field(description="null: detected")
    task: Task
    vocabulary: str | None
    num_speakers: int | None
    min_speakers: int | None
    max_speakers: int | None
    diarization: bool
    summary: bool
    summary_prompt: UUID | None = Field(description="null: the owner's active prompt")


HINTS = ("num_speakers", "min_speakers", "max_speakers")


def shown(stored: ShownChoices, hints: SpeakerHints) -> ChoicesOut:
    c = stored.choices
    return ChoicesOut(
        stored=stored.stored,
        model=c.model,
        language=c.language,
        task=c.task,
        vocabulary=c.vocabulary,
        num_speakers=hints.num_speakers,
        min_speakers=hints.min_speakers,
        max_speakers=hints.max_speakers,
        diarization=c.diarization,
        summary=c.summary,
        summary_prompt=stored.summary_prompt_uuid,
    )


def file_choices(conn: Connection, actor: Actor, uuid: UUID, file_id: int) -> ChoicesOut:
    """A file's choices as the API and the file page show them."""
    return shown(ProcessingChoicesRepository(conn).for_file(actor, uuid), DiarizationRepository(conn).hints(file_id))


def defaults(ctx: Ctx, owner: Actor) -> Choices:
    return defaults_for(ctx.conn, ctx.services.settings, owner)


def defaults_for(conn: Connection, settings: Settings, owner: Actor) -> Choices:
    """The owner's defaults (transcript.choices.from_settings), with the models on this server."""
    return from_settings(SettingsRepository(conn).get_all(owner), model_choices(settings), language_code)


def resolve(ctx: Ctx, owner: Actor, base: Choices, given: Mapping[str, Any]) -> Choices:
    """`base` with the choices `given` (field -> value; a value of None: back to the default), checked: 422 naming
    the field for an unknown model, 409 for a prompt that is not the owner's (nor a system one)."""
    changes: dict[str, Any] = {}
    for name, value in given.items():
        if name in HINTS:
            continue
        if name == "model":
            changes["model"] = check_model(ctx.services.settings, value)
        elif name == "language":
            changes["language"] = None if value in (None, "", AUTO) else value
        elif name == "task":
            changes["task"] = value or "transcribe"
        elif name == "vocabulary":
            changes["vocabulary"] = (value or "").strip() or None
        elif name == "summary_prompt":
            changes["summary_prompt_id"] = prompt_id(ctx, owner, value)
        elif name in ("diarization", "summary"):
            changes[name] = bool(value) if value is not None else getattr(Choices(), name)
        else:
            raise Invalid(f"{name}: not a processing choice", name)
    return dataclasses.replace(base, **changes)


def check_model(settings: Settings, value: str | None) -> str | None:
    if not value:
        return None
    present = model_choices(settings)
    if value not in present:
        listed = ", ".join(present) or "none: only the configured model"
        raise Invalid(f"model: no speech model {value!r} on this server (present: {listed})", "model")
    return value


def prompt_id(ctx: Ctx, owner: Actor, value: UUID | str | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        wanted = UUID(str(value))
    except ValueError:
        raise Invalid("summary_prompt: a prompt's uuid, or empty for your active prompt", "summary_prompt") from None
    try:
        prompt: Prompt | None = PromptRepository(ctx.conn).get(owner, wanted)
    except NotFound:
        prompt = None
    if prompt is None or prompt.user_id not in (None, owner.id):
        # 409 as for every reference that resolves to nothing of yours (the settings' prompt too): a well-formed
        # uuid is a valid value; that it names no prompt of yours is a conflict with what is stored.
        raise Conflict("summary_prompt: no such prompt of yours (or system prompt)", "summary_prompt")
    return prompt.id


def hints(given: Mapping[str, Any], base: SpeakerHints) -> SpeakerHints:
    """`base` with the speaker counts given; 409 naming `min_speakers` when the range is upside down (each value is
    valid, only together do they conflict: a rule no schema states, as the upload has always answered it)."""
    values = {name: given.get(name, getattr(base, name)) for name in HINTS}
    low, high = values["min_speakers"], values["max_speakers"]
    if low is not None and high is not None and low > high:
        raise Conflict("min_speakers: must not exceed max_speakers", "min_speakers")
    return SpeakerHints(values["min_speakers"], values["max_speakers"], values["num_speakers"])


def stored_hints(ctx: Ctx, file_id: int) -> SpeakerHints:
    return DiarizationRepository(ctx.conn).hints(file_id)


def specialise_document(generated: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The document with every schema marked as a speech model made the enum of the models on this server (when the
    document is first asked for). A copy: the generated one shares its parts with the endpoints' declarations,
    which every app of the process (each with its own settings) reads again."""
    document = copy.deepcopy(generated)
    present = model_choices(settings)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            kind = node.get(MODEL_MARKER)
            if kind is not None:
                node.clear()
                node.update(
                    {
                        "type": "string",
                        "enum": [*present, ""],
                        "description": "a speech model on this server, or empty for the configured one",
                    }
                    if kind == "form"
                    else {
                        "enum": [*present, None],
                        "description": "a speech model on this server (null: the configured one)",
                    }
                )
                return
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    return document


# The upload form's choice parts, as text (an empty part: none, or detect; a part left out: the owner's default).
FORM_PARTS: dict[str, dict[str, Any]] = {
    "model": {MODEL_MARKER: "form"},
    "language": {
        "type": "string",
        "pattern": LANGUAGE_PATTERN[:-2] + ")?$",
        "description": "a Whisper language code, `auto` or empty to detect it",
    },
    "task": {"type": "string", "enum": [*TASKS, ""], "description": "`translate`: the speech as English text"},
    "vocabulary": {
        "type": "string",
        "maxLength": MAX_VOCABULARY_CHARS,
        "pattern": "^[^\\u0000]*$",
        "description": "names and terms to spell as given",
    },
    "diarization": {"type": "string", "enum": ["true", "false"], "description": "split between speakers"},
    "summary": {"type": "string", "enum": ["true", "false"], "description": "summarise when transcribed"},
    "summary_prompt": {
        "type": "string",
        "pattern": "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$",
        "description": "a prompt's uuid (empty: your active prompt)",
    },
}


def form_choices(fields: Mapping[str, str]) -> dict[str, Any]:
    """The choice parts an upload form carries, typed (422 naming the part for a malformed one)."""
    given: dict[str, Any] = {name: fields[name] for name in FORM_PARTS if name in fields}
    for name in ("diarization", "summary"):
        if name in given:
            if given[name] not in ("true", "false"):
                raise Invalid(f"{name}: true or false", name)
            given[name] = given[name] == "true"
    language = given.get("language", "")
    if language not in ("", AUTO, *CODES):
        raise Invalid(
            f"language: {language!r} is not a language Whisper knows (a code such as en, de, ja; or auto)", "language"
        )
    if given.get("task", "") not in ("", *TASKS):
        raise Invalid(f"task: one of {', '.join(TASKS)}", "task")
    if len(given.get("vocabulary", "")) > MAX_VOCABULARY_CHARS:
        raise Invalid(
            f"vocabulary: at most {MAX_VOCABULARY_CHARS} characters (Whisper reads at most 224 tokens of it)",
            "vocabulary",
        )
    return given
