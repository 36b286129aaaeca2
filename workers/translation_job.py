"""`translate_transcript(run_id, task_id)`: a transcript translated into the run's language by the requester's LLM
(the `translation` kind of jobs/llm_runs.py, on workers/llm_run.py's skeleton).

The segments are sent in batches of consecutive segments, each numbered (its place in the transcript), as JSON
lines with their speaker, together with the few segments just before the batch and their translation (context, so
that names, terms and the form of address stay the same from batch to batch). The model answers with the same
numbers and their translation; an answer that leaves one out, adds one or leaves one empty gets one repair
request (llm/structured.py), then the run fails quoting the model. A batch holds at most MAX_BATCH_SEGMENTS
segments and as many characters as leave room, in the model's context, for an answer about as long as the batch
itself (a translation is); segments without text are kept empty without asking. Between batches the run reports
its progress, which is where a cancellation stops it; the translation is stored only once every batch is
answered, in the transaction that completes the run. Times and speakers are never sent back: they stay the
segments' own, so subtitles in the other language keep the original timings.

Whisper's own translation into English, chosen when a file is transcribed (asr/), is the other path; this one
translates an existing transcript into any language Whisper knows the name of.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final
from uuid import UUID

from asr.languages import language_name
from jobs.llm_runs import TRANSLATION
from llm.chunking import CHARS_PER_TOKEN, MAX_PARTS, TranscriptTooLong, budget_chars, tokens_of
from llm.metered import MeteredLlm
from llm.structured import AnswerInvalid, ask_json
from repo.database import Connection
from repo.llm_runs import LlmRun
from repo.media_files import MediaFileRepository
from repo.rows import Actor
from repo.segments import SegmentRepository
from repo.translations import TranslationRepository
from workers.jobrun import JobFailed, job_function
from workers.llm_run import LlmRunBody, LlmWork, Progress

MAX_BATCH_SEGMENTS: Final = 40  # more numbered items per answer and models start to skip or merge some
CONTEXT_SEGMENTS: Final = 3  # segments before a batch sent with their translation, for consistency
CONTEXT_CHARS: Final = 300  # of each context segment's text (and translation): context, not work
SYSTEM_PROMPT: Final = (
    "You translate transcripts of recorded speech into {language}. Translate every segment you are given "
    "faithfully and completely, keeping its meaning, tone and register; keep people's names as they are; never "
    "merge, split, summarise or skip segments, even short or unfinished ones. Answer with JSON only."
)
USER_PROMPT: Final = """Translate the transcript segments below into {language} (language code "{code}").
{context}
Segments to translate, one JSON object per line:
{segments}

Answer with only a JSON object of this shape: {{"segments": [{{"id": <the segment's id>, "text": "<its \
translation into {language}>"}}]}}, with one item for each of the ids {first} to {last} listed above, each once, in \
order."""
CONTEXT_PROMPT: Final = """
For context only, the segments just before these with their translation (do not include them in your answer):
{lines}
"""


@dataclass(frozen=True, slots=True)
class Line:
    """A segment as the job sends it: `id` its place in the transcript, from 1."""

    id: int
    segment_uuid: UUID
    speaker: str | None
    text: str

    def sent(self) -> str:
        return json.dumps({"id": self.id, "speaker": self.speaker, "text": _flat(self.text)}, ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class Source:
    language: str
    lines: list[Line]


Result = list[tuple[UUID, str]]


def _flat(text: str) -> str:
    return " ".join(text.split())


def _context_line(line: Line, translation: str) -> str:
    return json.dumps(
        {
            "id": line.id,
            "speaker": line.speaker,
            "text": _flat(line.text)[:CONTEXT_CHARS],
            "translation": _flat(translation)[:CONTEXT_CHARS],
        },
        ensure_ascii=False,
    )


def batch_chars(llm: MeteredLlm, system_prompt: str, language: str) -> int:
    """The characters of segments one request may carry: half of what the context leaves beside the prompt and the
    context segments (the other half is the answer's: a translation is about as long as its original), and no
    more than half of what the configured max_tokens lets the model answer (the answer repeats ids in JSON, and
    scripts such as Japanese take more tokens per character than English)."""
    frame = USER_PROMPT.format(language=language, code="xx", context="", segments="", first=0, last=0)
    context = len(CONTEXT_PROMPT) + CONTEXT_SEGMENTS * (2 * CONTEXT_CHARS + 100)
    room = budget_chars(llm.context_tokens, 0, len(system_prompt) + len(frame) + context) // 2
    answer = llm.settings.max_tokens * CHARS_PER_TOKEN // 2
    return max(1, min(room, answer))


def batches(lines: list[Line], max_chars: int) -> list[list[Line]]:
    """Consecutive lines, at most MAX_BATCH_SEGMENTS and `max_chars` of them per batch (a longer line alone);
    TranscriptTooLong beyond MAX_PARTS batches."""
    found: list[list[Line]] = []
    current: list[Line] = []
    size = 0
    for line in lines:
        cost = len(line.sent()) + 1
        if current and (len(current) >= MAX_BATCH_SEGMENTS or size + cost > max_chars):
            found.append(current)
            current, size = [], 0
        current.append(line)
        size += cost
    if current:
        found.append(current)
    if len(found) > MAX_PARTS:
        raise TranscriptTooLong(
            f"the transcript would take {len(found):,} requests of about {tokens_of(max_chars):,} tokens each to "
            f"translate, more than the {MAX_PARTS} allowed; use a model with a larger context or max_tokens"
        )
    return found


def answer_validator(ids: list[int]) -> Callable[[Any], dict[int, str]]:
    """`validate` for ask_json: exactly `ids`, each once with a non-empty text; AnswerInvalid says what is not."""
    wanted = set(ids)

    def validate(value: Any) -> dict[int, str]:
        items = value.get("segments") if isinstance(value, dict) else value
        if not isinstance(items, list):
            raise AnswerInvalid('the JSON must be an object with a "segments" list')
        found: dict[int, str] = {}
        seen: set[int] = set()
        unknown: list[str] = []
        problems: list[str] = []
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("text"), str):
                raise AnswerInvalid('each item of "segments" must be an object with an "id" and a "text"')
            number = _number(item.get("id"))
            if number is None or number not in wanted:
                unknown.append(json.dumps(item.get("id"), ensure_ascii=False))
            elif number in seen:
                problems.append(f"id {number} appears twice")
            elif not item["text"].strip():
                problems.append(f"id {number} has an empty text")
            else:
                found[number] = item["text"].strip()
            if number is not None:
                seen.add(number)
        missing = [str(number) for number in ids if number not in seen]
        if missing:
            problems.append(f"missing {_ids(missing)}")
        if unknown:
            problems.append(f"{_ids(unknown)} not asked for")
        if problems:
            raise AnswerInvalid("; ".join(problems))
        return found

    return validate


def _number(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return int(value) if isinstance(value, str) and value.strip().isdigit() else None


def _ids(values: list[str]) -> str:
    listed = ", ".join(values[:10]) + (f" and {len(values) - 10} more" if len(values) > 10 else "")
    return f"id{'s' if len(values) > 1 else ''} {listed}"


class Translation(LlmWork[Source, Result]):
    kind = TRANSLATION

    def prepare(self, conn: Connection, run: LlmRun) -> Source:
        if run.language is None:
            raise JobFailed("the translation was requested without a target language")
        file = MediaFileRepository(conn).get_by_id(run.media_file_id)
        segments = SegmentRepository(conn).transcript(Actor(run.user_id), file.uuid)  # what the requester sees
        if not any(segment.text.strip() for segment in segments):
            raise JobFailed("the file has no transcript to translate")
        lines = [
            Line(number, segment.uuid, segment.speaker_name, segment.text)
            for number, segment in enumerate(segments, start=1)
        ]
        return Source(run.language, lines)

    def produce(self, llm: MeteredLlm, source: Source, progress: Progress) -> Result:
        language = language_name(source.language)
        system = SYSTEM_PROMPT.format(language=language)
        parts = batches(source.lines, batch_chars(llm, system, language))
        translated: dict[int, str] = {}
        total, done = len(source.lines), 0
        for number, batch in enumerate(parts, start=1):
            asked = [line for line in batch if line.text.strip()]
            if asked:
                prompt = USER_PROMPT.format(
                    language=language,
                    code=source.language,
                    context=self._context(source.lines, asked[0].id, translated),
                    segments="\n".join(line.sent() for line in asked),
                    first=asked[0].id,
                    last=asked[-1].id,
                )
                validate = answer_validator([line.id for line in asked])
                translated.update(ask_json(llm, system, prompt, validate, label=f"batch {number} of {len(parts)}"))
            done += len(batch)
            progress(done / total, f"translated {done} of {total} segments")
        return [(line.segment_uuid, translated.get(line.id, "")) for line in source.lines]

    @staticmethod
    def _context(lines: list[Line], first_id: int, translated: dict[int, str]) -> str:
        before = [line for line in lines[: first_id - 1] if line.id in translated][-CONTEXT_SEGMENTS:]
        if not before:
            return ""
        return CONTEXT_PROMPT.format(lines="\n".join(_context_line(line, translated[line.id]) for line in before))

    def store(self, conn: Connection, run: LlmRun, result: Result) -> str:
        stored = TranslationRepository(conn).store(run.id, result)
        language = language_name(run.language or "")
        return f"{stored} segment{'s' if stored != 1 else ''} translated into {language}"


translate_transcript: Any = job_function(LlmRunBody(Translation()))
