"""Turning a transcript into a summary in the shape its prompt declares, with the requester's metered LLM.

Shapes (`output_format`): "bluf" (the fixed keys of `Bluf`), "json" (one object matching the prompt's JSON Schema)
and "markdown" (free text). The instruction to write in the chosen language goes into the system prompt.

A transcript that fits the model's context (`llm.context_tokens`, measured: configured or read from the server, see
llm/context.py) is summarised in one request. A longer one is cut between lines into parts that fit (llm/chunking.py)
and each part summarised in the same shape ("map"); the part summaries are then merged by further requests in rounds
of groups that fit ("reduce"). JSON answers (BLUF and schema, parts and merges) go through llm/structured.py's
`ask_json`: one repair request, then StructuredAnswerError quoting the model, and nothing of the summary is stored.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from asr.languages import language_name
from llm.chunking import TranscriptTooLong, budget_chars, split_lines
from llm.metered import MeteredLlm
from llm.structured import AnswerInvalid, StructuredAnswerError, ask_json, schema_validator

SYSTEM_PROMPT: Final = "You summarise transcripts of recordings. Answer with one JSON object and nothing else."
MARKDOWN_SYSTEM_PROMPT: Final = (
    "You summarise transcripts of recordings. Answer in Markdown (headings, lists, bold and italic, paragraphs) "
    "and nothing else."
)
SCHEMA_NOTE: Final = "\nThe object must match this JSON Schema:\n{schema}"
LANGUAGE_NOTE: Final = "\nWrite the summary in {name} (language code {code}){keys}."
MERGE_PROMPTS: Final[dict[str, str]] = {
    "bluf": """Below are JSON summaries of consecutive parts of one recording, in order. Combine them into
one JSON summary of the whole recording with the same keys: "bluf" (two or three sentences: the bottom line up front
for the whole recording), "brief_summary" (one paragraph), "major_topics", "action_items", "key_decisions" and
"follow_up_items" (lists of strings: keep every distinct item once, in order). Answer with one JSON object and nothing
else.

Speakers:
{speaker_data}

Part summaries:
{partial_summaries}
""",
    "json": """Below are JSON answers for consecutive parts of one recording, in order, one per line. Combine them
into one JSON object for the whole recording, matching the same JSON Schema: keep every distinct item once, in order.
Answer with one JSON object and nothing else.

Speakers:
{speaker_data}

Part summaries:
{partial_summaries}
""",
    "markdown": """Below are Markdown summaries of consecutive parts of one recording, in order. Combine them into one
Markdown summary of the whole recording in the same structure: keep every distinct point once, in order.

Speakers:
{speaker_data}

Part summaries:
{partial_summaries}
""",
}
PART_NOTE_CHARS: Final = 120  # room for the "(This is part i of n ...)" line put before each part

log = logging.getLogger(__name__)
Progress = Callable[[float, str], None]


class SummaryError(Exception):
    """Nothing to summarise, or an answer that cannot be used (the message says which)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Bluf(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    bluf: str = Field(min_length=1)
    brief_summary: str = Field(min_length=1)
    major_topics: list[str] = Field(default_factory=list)
    action_items: list[str] = Field(default_factory=list)
    key_decisions: list[str] = Field(default_factory=list)
    follow_up_items: list[str] = Field(default_factory=list)

    @field_validator("bluf", "brief_summary", mode="before")
    @classmethod
    def _sentences_as_text(cls, value: Any) -> Any:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return " ".join(v.strip() for v in value)
        return value

    @field_validator("major_topics", "action_items", "key_decisions", "follow_up_items", mode="before")
    @classmethod
    def _items_as_strings(cls, value: Any) -> Any:
        """Models often answer with null, a single string, or objects such as {"task": ..., "owner": ...}."""
        if value is None:
            return []
        if isinstance(value, str):
            return [value] if value.strip() else []
        if not isinstance(value, list):
            return value
        items = [_item_text(v) for v in value]
        return [i for i in items if i]


@dataclass(frozen=True)
class Shape:
    """What a summary's answer is: `output_format`, with `output_schema` for "json"."""

    output_format: str = "bluf"
    output_schema: dict[str, Any] | None = None


@dataclass(frozen=True)
class SummaryResult:
    """One of `bluf`, `content` (json) or `markdown`, by `output_format`."""

    output_format: str
    bluf: Bluf | None
    content: dict[str, Any] | None
    markdown: str | None
    raw_response: str
    calls: int
    processing_ms: int


@dataclass(frozen=True)
class SpeakerStats:
    name: str
    talk_seconds: float
    words: int
    turns: int


def build_prompt(prompt_template: str, transcript: str, speaker_data: str) -> str:
    """Fill {transcript} and {speaker_data} in one pass; every other brace stays as written.

    A template without {transcript} gets the transcript appended, so it is never silently left out.
    """
    if "{transcript}" not in prompt_template:
        prompt_template = prompt_template.rstrip() + "\n\nTranscript:\n{transcript}\n"
    return _fill(prompt_template, {"transcript": transcript, "speaker_data": speaker_data})


def format_transcript(segments: Iterable[tuple[float, str | None, str]]) -> list[str]:
    """(start seconds, speaker name, text) → "[00:01:05] Alice: text"; empty texts are left out."""
    lines = []
    for start, speaker, text in segments:
        words = " ".join(text.split())
        if words:
            lines.append(f"[{_clock(start)}] {(speaker or '').strip() or 'Unknown speaker'}: {words}")
    return lines


def format_speaker_data(stats: Iterable[SpeakerStats]) -> str:
    """One line per speaker, most talkative first, with their share of the talk time."""
    ordered = sorted(stats, key=lambda s: (-s.talk_seconds, s.name))
    if not ordered:
        return "(no speaker information)"
    total = sum(max(0.0, s.talk_seconds) for s in ordered)
    lines = []
    for s in ordered:
        share = f" ({100 * s.talk_seconds / total:.0f}%)" if total > 0 else ""
        lines.append(f"- {s.name}: {_clock(s.talk_seconds)} talk time{share}, {s.words} words, {s.turns} turns")
    return "\n".join(lines)


def system_prompt(shape: Shape, language: str | None) -> str:
    """The instruction of every request of a summary: its shape, and the language to write in."""
    if shape.output_format == "markdown":
        text = MARKDOWN_SYSTEM_PROMPT
    elif shape.output_format == "json":
        text = SYSTEM_PROMPT + SCHEMA_NOTE.format(schema=json.dumps(shape.output_schema, ensure_ascii=False))
    else:
        text = SYSTEM_PROMPT
    if language:
        keys = "; keep the JSON keys as they are" if shape.output_format != "markdown" else ""
        text += LANGUAGE_NOTE.format(name=language_name(language), code=language, keys=keys)
    return text


def summarize(
    llm: MeteredLlm,
    shape: Shape,
    prompt_template: str,
    transcript_lines: Sequence[str],
    speaker_data: str,
    language: str | None = None,
    progress: Progress = lambda fraction, step: None,
) -> SummaryResult:
    """Summarise in one request when the transcript fits the model's context, else map and reduce.

    TranscriptTooLong (before anything is sent) when no part of it fits; StructuredAnswerError when an answer is
    unusable after its repair; LlmError, LlmCancelled and TokenLimitReached from the LLM pass through."""
    started = time.monotonic()
    transcript = "\n".join(line.strip() for line in transcript_lines if line.strip())
    if not transcript:
        raise SummaryError("the transcript is empty: there is nothing to summarise")
    system = system_prompt(shape, language)
    fixed = len(system) + len(build_prompt(prompt_template, "", speaker_data)) + PART_NOTE_CHARS
    budget = budget_chars(llm.context_tokens, llm.settings.max_tokens, fixed)
    chunks = split_lines(transcript, budget)
    asker = _Asker(llm, shape, system)
    merge_budget = _merge_budget(asker, speaker_data) if len(chunks) > 1 else 0  # refused before anything is sent
    if len(chunks) == 1:
        progress(0.2, "asking the model")
        answer = asker.ask(build_prompt(prompt_template, transcript, speaker_data), None)
    else:
        partials = []
        for number, chunk in enumerate(chunks, start=1):
            progress(0.1 + 0.7 * (number - 1) / len(chunks), f"part {number} of {len(chunks)}")
            prompt = build_prompt(prompt_template, _part_note(number, len(chunks)) + chunk, speaker_data)
            partials.append(asker.ask(prompt, f"part {number}"))
        progress(0.85, "merging the parts")
        answer = _reduce(asker, partials, speaker_data, merge_budget)
    return SummaryResult(
        output_format=shape.output_format,
        bluf=answer if isinstance(answer, Bluf) else None,
        content=answer if isinstance(answer, dict) else None,
        markdown=answer if isinstance(answer, str) else None,
        raw_response=llm.raw_response(),
        calls=sum(1 for label, _ in llm.answers if not (label or "").startswith("merged locally")),
        processing_ms=round((time.monotonic() - started) * 1000),
    )


Answer = Bluf | dict[str, Any] | str


@dataclass
class _Asker:
    """Sends one request of a summary in its shape and returns the checked answer."""

    llm: MeteredLlm
    shape: Shape
    system: str

    def ask(self, user_prompt: str, label: str | None) -> Answer:
        if self.shape.output_format == "markdown":
            answer = self.llm.ask(self.system, user_prompt, label=label)
            text = answer.text.strip()
            if not text:
                where = f"{label}: " if label else ""
                raise StructuredAnswerError(f"{where}the model's answer is empty", self.llm.raw_response())
            return text
        validate: Callable[[Any], Answer] = (
            _bluf if self.shape.output_format == "bluf" else _object_of(self.shape.output_schema or {})
        )
        return ask_json(self.llm, self.system, user_prompt, validate, label=label)

    def serialised(self, answer: Answer) -> str:
        if isinstance(answer, Bluf):
            return json.dumps(answer.model_dump(), ensure_ascii=False)
        if isinstance(answer, dict):
            return json.dumps(answer, ensure_ascii=False)
        return answer


def _bluf(value: Any) -> Bluf:
    if not isinstance(value, dict):
        raise AnswerInvalid("the answer must be one JSON object, not a list")
    try:
        return Bluf.model_validate(value)
    except ValidationError as exc:
        raise AnswerInvalid(f"the answer's JSON {_reasons(exc)}") from None


def _object_of(schema: dict[str, Any]) -> Callable[[Any], dict[str, Any]]:
    matches = schema_validator(schema)

    def validate(value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise AnswerInvalid("the answer must be one JSON object, not a list")
        checked: dict[str, Any] = matches(value)
        return checked

    return validate


def _merge_budget(asker: _Asker, speaker_data: str) -> int:
    """Characters of part summaries one merge request may carry."""
    template = MERGE_PROMPTS[asker.shape.output_format]
    fixed = len(asker.system) + len(_fill(template, {"speaker_data": speaker_data, "partial_summaries": ""}))
    return budget_chars(asker.llm.context_tokens, asker.llm.settings.max_tokens, fixed)


def _reduce(asker: _Asker, partials: list[Answer], speaker_data: str, budget: int) -> Answer:
    """Merge in rounds of groups that fit the context until one answer is left."""
    template = MERGE_PROMPTS[asker.shape.output_format]
    llm = asker.llm
    round_number = 0
    while len(partials) > 1:
        round_number += 1
        groups = _groups_that_fit([asker.serialised(p) for p in partials], budget)
        if all(len(group) == 1 for group in groups):
            if asker.shape.output_format == "bluf":  # the fixed keys can be merged here, list by list
                llm.note("merged locally: the part summaries are too long to merge in one request")
                return _merge_locally([p for p in partials if isinstance(p, Bluf)])
            raise TranscriptTooLong(
                f"the part summaries are too long to merge within the model's context of {llm.context_tokens:,} "
                "tokens; use a model with a larger context or a lower max_tokens"
            )
        merged: list[Answer] = []
        start = 0
        for number, group in enumerate(groups, start=1):
            members = partials[start : start + len(group)]
            start += len(group)
            if len(members) == 1:
                merged.append(members[0])
                continue
            separator = "\n\n" if asker.shape.output_format == "markdown" else "\n"
            prompt = _fill(template, {"speaker_data": speaker_data, "partial_summaries": separator.join(group)})
            merged.append(asker.ask(prompt, f"merge {round_number}.{number}"))
        partials = merged
    return partials[0]


def _merge_locally(partials: Sequence[Bluf]) -> Bluf:
    def distinct(items: Iterable[str]) -> list[str]:
        seen: dict[str, str] = {}
        for item in items:
            seen.setdefault(" ".join(item.split()).casefold(), item)
        return list(seen.values())

    return Bluf(
        bluf=" ".join(p.bluf for p in partials),
        brief_summary="\n\n".join(p.brief_summary for p in partials),
        major_topics=distinct(t for p in partials for t in p.major_topics),
        action_items=distinct(t for p in partials for t in p.action_items),
        key_decisions=distinct(t for p in partials for t in p.key_decisions),
        follow_up_items=distinct(t for p in partials for t in p.follow_up_items),
    )


def _groups_that_fit(texts: list[str], budget: int) -> list[list[str]]:
    groups: list[list[str]] = []
    size = 0
    for text in texts:
        length = len(text) + 2
        if groups and size + length <= budget:
            groups[-1].append(text)
            size += length
        else:
            groups.append([text])
            size = length
    return groups


def _fill(template: str, values: dict[str, str]) -> str:
    """One pass, so text put in for one placeholder is never scanned for another."""
    pattern = re.compile("|".join(re.escape("{" + name + "}") for name in values))
    return pattern.sub(lambda m: values[m.group(0)[1:-1]], template)


def _reasons(exc: ValidationError) -> str:
    reasons = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"])
        if error["type"] == "missing":
            reasons.append(f"is missing {where!r}")
        else:
            reasons.append(f"has an unusable {where!r}: {error['msg']}")
    return "; ".join(reasons)


def _item_text(value: Any) -> str:
    if isinstance(value, str):
        return " ".join(value.split())
    if isinstance(value, dict):
        filled = [(k, v) for k, v in value.items() if v not in (None, "", [], {})]
        if not filled:
            return ""
        main, rest = str(filled[0][1]), "; ".join(f"{k}: {v}" for k, v in filled[1:])
        return f"{main} ({rest})" if rest else main
    return "" if value is None else str(value)


def _part_note(number: int, total: int) -> str:
    return f"(This is part {number} of {total} of a longer transcript. Summarise this part only.)\n"


def _clock(seconds: float) -> str:
    whole = max(0, int(seconds))
    return f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}"
