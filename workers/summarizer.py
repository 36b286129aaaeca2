"""Turning a transcript into the BLUF summary with the user's prompt and LLM.

A transcript that fits the model's context is summarised in one call. A longer one is split on line boundaries and
each part summarised ("map"); the partial summaries are then merged by further calls ("reduce"), or merged here
list by list when a merge answer cannot be parsed. Answers are parsed as JSON, tolerating code fences and prose
around the object, and validated into `Bluf`.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from llm import clients as llm_clients
from llm.clients import LlmAnswer, LlmSettings

SYSTEM_PROMPT: Final = "You summarise transcripts of recordings. Answer with one JSON object and nothing else."
MERGE_PROMPT: Final = """Below are JSON summaries of consecutive parts of one recording, in order. Combine them into
one JSON summary of the whole recording with the same keys: "bluf" (two or three sentences: the bottom line up front
for the whole recording), "brief_summary" (one paragraph), "major_topics", "action_items", "key_decisions" and
"follow_up_items" (lists of strings: keep every distinct item once, in order). Answer with one JSON object and nothing
else.

Speakers:
{speaker_data}

Part summaries:
{partial_summaries}
"""
CHARS_PER_TOKEN: Final = 4
DEFAULT_CONTEXT_TOKENS: Final = 8192
CONTEXT_TOKENS_BY_PROVIDER: Final[dict[str, int]] = {"openai": 128_000, "anthropic": 200_000, "openrouter": 128_000}
MIN_CHUNK_CHARS: Final = 1000
PART_NOTE_CHARS: Final = 120  # room for the "(This is part i of n ...)" line put before each part
CUT_OFF_REASONS: Final = frozenset({"length", "max_tokens"})
ERROR_SNIPPET_CHARS: Final = 200

log = logging.getLogger(__name__)

Complete = Callable[[LlmSettings, str, str], LlmAnswer]


class SummaryError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SummaryFormatError(SummaryError):
    """The model answered, but not with a usable BLUF JSON object; `raw_response` is what it said."""

    def __init__(self, message: str, raw_response: str) -> None:
        super().__init__(message)
        self.raw_response = raw_response


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
class SummaryResult:
    bluf: Bluf
    raw_response: str
    input_tokens: int | None
    output_tokens: int | None
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


def split_transcript(text: str, max_chars: int) -> list[str]:
    """Chunks of at most max_chars, cut between lines; a line longer than that is cut between words."""
    if max_chars < 1:
        raise ValueError(f"max_chars must be positive, not {max_chars}")
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for raw_line in text.splitlines():
        for line in _pieces(raw_line.strip(), max_chars):
            if current and size + 1 + len(line) > max_chars:
                chunks.append("\n".join(current))
                current, size = [], 0
            size += len(line) + (1 if current else 0)
            current.append(line)
    if current:
        chunks.append("\n".join(current))
    return chunks


def transcript_budget_chars(max_tokens: int, context_tokens: int, fixed_chars: int) -> int:
    """Characters of transcript per call: the context minus the answer's room, at ~4 characters per token."""
    answer_tokens = min(max(0, max_tokens), context_tokens // 2)
    return max(MIN_CHUNK_CHARS, (context_tokens - answer_tokens) * CHARS_PER_TOKEN - fixed_chars)


def parse_summary(raw: str, stop_reason: str | None = None) -> Bluf:
    cut_off = " (the answer was cut off at max_tokens; raise max_tokens)" if stop_reason in CUT_OFF_REASONS else ""
    if not raw.strip():
        raise SummaryFormatError(f"the answer is empty{cut_off}", raw)
    found = _first_json_object(raw)
    if found is None:
        snippet = " ".join(raw.split())[:ERROR_SNIPPET_CHARS]
        raise SummaryFormatError(f"the answer contains no JSON object{cut_off}: {snippet}", raw)
    try:
        return Bluf.model_validate(found)
    except ValidationError as exc:
        raise SummaryFormatError(f"the answer's JSON {_reasons(exc)}{cut_off}", raw) from None


def summarize(
    settings: LlmSettings,
    prompt_template: str,
    transcript_lines: Sequence[str],
    speaker_data: str,
    complete: Complete = llm_clients.complete,
    *,
    context_tokens: int | None = None,
) -> SummaryResult:
    """Summarise in one call when the transcript fits `context_tokens` (default by provider), else map and reduce.

    LlmError from the client propagates unchanged (its `retryable` tells the job whether to try again later).
    """
    started = time.monotonic()
    transcript = "\n".join(line.strip() for line in transcript_lines if line.strip())
    if not transcript:
        raise SummaryError("the transcript is empty: there is nothing to summarise")
    context = context_tokens or CONTEXT_TOKENS_BY_PROVIDER.get(settings.provider, DEFAULT_CONTEXT_TOKENS)
    fixed = len(SYSTEM_PROMPT) + len(build_prompt(prompt_template, "", speaker_data)) + PART_NOTE_CHARS
    budget = transcript_budget_chars(settings.max_tokens, context, fixed)
    chunks = split_transcript(transcript, budget)
    ledger = _Ledger(settings, complete)
    if len(chunks) == 1:
        bluf = ledger.ask(build_prompt(prompt_template, transcript, speaker_data), label=None)
    else:
        partials = [
            ledger.ask(build_prompt(prompt_template, _part_note(i, len(chunks)) + chunk, speaker_data), f"part {i}")
            for i, chunk in enumerate(chunks, start=1)
        ]
        bluf = _reduce(ledger, partials, speaker_data, budget)
    return SummaryResult(
        bluf=bluf,
        raw_response=ledger.raw_response(),
        input_tokens=ledger.input_tokens,
        output_tokens=ledger.output_tokens,
        calls=len(ledger.answers),
        processing_ms=round((time.monotonic() - started) * 1000),
    )


@dataclass
class _Ledger:
    """Sends the calls of one summary and keeps what they cost and said."""

    settings: LlmSettings
    complete: Complete
    answers: list[tuple[str | None, str]] = field(default_factory=list)
    input_tokens: int | None = None
    output_tokens: int | None = None

    def ask(self, user_prompt: str, label: str | None) -> Bluf:
        answer = self.complete(self.settings, SYSTEM_PROMPT, user_prompt)
        self.answers.append((label, answer.text))
        if answer.input_tokens is not None:
            self.input_tokens = (self.input_tokens or 0) + answer.input_tokens
        if answer.output_tokens is not None:
            self.output_tokens = (self.output_tokens or 0) + answer.output_tokens
        try:
            return parse_summary(answer.text, answer.stop_reason)
        except SummaryFormatError as exc:
            message = f"{label}: {exc.message}" if label else exc.message
            raise SummaryFormatError(message, self.raw_response()) from None

    def note(self, label: str) -> None:
        self.answers.append((label, ""))

    def raw_response(self) -> str:
        if len(self.answers) == 1 and self.answers[0][0] is None:
            return self.answers[0][1]
        return "\n\n".join(f"--- {label} ---\n{text}".rstrip() for label, text in self.answers)


def _reduce(ledger: _Ledger, partials: list[Bluf], speaker_data: str, budget: int) -> Bluf:
    """Merge in rounds of groups that fit the budget until one summary is left."""
    round_number = 0
    while len(partials) > 1:
        round_number += 1
        groups = _groups_that_fit(partials, budget)
        if all(len(group) == 1 for group in groups):
            ledger.note("merged locally: the part summaries are too long to merge in one call")
            return _merge_locally(partials)
        partials = [
            group[0] if len(group) == 1 else _merge_group(ledger, group, speaker_data, f"merge {round_number}.{n}")
            for n, group in enumerate(groups, start=1)
        ]
    return partials[0]


def _merge_group(ledger: _Ledger, group: list[Bluf], speaker_data: str, label: str) -> Bluf:
    prompt = _fill(MERGE_PROMPT, {"speaker_data": speaker_data, "partial_summaries": _as_json(group)})
    try:
        return ledger.ask(prompt, label)
    except SummaryFormatError as exc:
        log.warning("merging part summaries locally: %s", exc.message)
        ledger.note(f"merged locally: {label} was not usable ({exc.message[:ERROR_SNIPPET_CHARS]})")
        return _merge_locally(group)


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


def _groups_that_fit(partials: list[Bluf], budget: int) -> list[list[Bluf]]:
    groups: list[list[Bluf]] = []
    size = 0
    for partial in partials:
        length = len(_as_json([partial]))
        if groups and size + length <= budget:
            groups[-1].append(partial)
            size += length
        else:
            groups.append([partial])
            size = length
    return groups


def _as_json(partials: Sequence[Bluf]) -> str:
    return "\n".join(json.dumps(p.model_dump(), ensure_ascii=False) for p in partials)


def _fill(template: str, values: dict[str, str]) -> str:
    """One pass, so text put in for one placeholder is never scanned for another."""
    pattern = re.compile("|".join(re.escape("{" + name + "}") for name in values))
    return pattern.sub(lambda m: values[m.group(0)[1:-1]], template)


def _first_json_object(text: str) -> dict[str, Any] | None:
    """The first {...} that parses as a JSON object, wherever it starts (after fences or prose)."""
    decoder = json.JSONDecoder()
    start = text.find("{")
    for _ in range(100):  # bounds the work on long answers full of stray braces
        if start == -1:
            return None
        try:
            found, _end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            found = None
        if isinstance(found, dict):
            return found
        start = text.find("{", start + 1)
    return None


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


def _pieces(line: str, max_chars: int) -> Iterator[str]:
    while len(line) > max_chars:
        cut = line.rfind(" ", 0, max_chars + 1)
        if cut <= 0:
            cut = max_chars
        yield line[:cut].rstrip()
        line = line[cut:].lstrip()
    if line:
        yield line


def _part_note(number: int, total: int) -> str:
    return f"(This is part {number} of {total} of a longer transcript. Summarise this part only.)\n"


def _clock(seconds: float) -> str:
    whole = max(0, int(seconds))
    return f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}"
