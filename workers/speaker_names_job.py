"""`propose_speaker_names(run_id, task_id)`, the `speaker_names` kind (jobs/llm_runs.py): the requester's LLM reads
the transcript and proposes what its speakers are called, from what is said in it ("Thanks, Maria" → SPEAKER_01
may be Maria), quoting its evidence; the proposals are stored for a person to accept or reject
(repo/speaker_name_proposals.py), never applied.

What is sent: the file's speaker labels with their current names, and the transcript as numbered lines
("[12] SPEAKER_01 (Bob): text"), so the model can cite segments by number. A transcript longer than the model's
context is cut into parts that fit (llm/chunking.py), one request each; their proposals are merged.

Models invent things, and a made-up quote must never be shown as evidence: each quote is looked up in the segment
it cites (or a neighbour), ignoring case and whitespace, and kept as the transcript spells it. Evidence that is not
there is dropped, and so is a proposal left without any, or one for a label the file does not have. An answer that
is not the JSON asked for gets one repair request (llm/structured.py), then the run fails quoting the model.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final
from uuid import UUID

from jobs.llm_runs import SPEAKER_NAMES
from llm.chunking import budget_chars, split_lines
from llm.metered import MeteredLlm
from llm.structured import AnswerInvalid, ask_json
from repo.database import Connection
from repo.llm_runs import LlmRun
from repo.media_files import MediaFileRepository
from repo.rows import Actor
from repo.segments import SegmentRepository
from repo.speaker_name_proposals import MAX_NAME_LENGTH, Evidence, NewProposal, SpeakerNameProposalRepository
from repo.speakers import SpeakerRepository
from workers.jobrun import JobFailed, job_function
from workers.llm_run import LlmRunBody, LlmWork, Progress

MAX_EVIDENCE: Final = 3  # quotes kept per proposal: enough to judge it by
MAX_PER_SPEAKER: Final = 5  # proposals kept per speaker, the most confident
MAX_QUOTE_CHARS: Final = 500
MIN_QUOTE_CHARS: Final = 2
# Quotation marks (written as escapes: some look like other characters), ellipses, stops and spaces around a quote
QUOTE_MARKS: Final = "\"'`“”„‟«»\u2039\u203a\u2018\u2019\u201a「」『』…. "

SYSTEM_PROMPT: Final = """You work out what the speakers of a transcript are called, from what is said in it: people \
address each other by name ("Thanks, Maria"), introduce themselves ("I'm Tom from sales") or are introduced by \
others. Propose a name for a speaker label only when the transcript gives evidence for it, and quote that evidence \
word for word as it is written in the transcript, with the number of the segment it is in. Never guess from voices, \
roles or stereotypes; never invent a quote. Answer with JSON only."""

USER_PROMPT: Final = """Speakers of this recording (label: the name they have now):
{speakers}

Transcript, one segment per line: [segment number] speaker label (current name): text
{part_note}
{transcript}

Answer with one JSON object of this shape, and nothing else:
{{"proposals": [{{"speaker": "SPEAKER_01", "name": "Maria", "confidence": 0.8, \
"evidence": [{{"segment": 12, "quote": "Thanks, Maria"}}]}}]}}
- "speaker": one of the labels above; "name": the name as the transcript writes it (in its script);
- "confidence": from 0 to 1, how sure the evidence makes you that this speaker has this name;
- "evidence": quotes copied exactly from the numbered segments, with their numbers;
- {{"proposals": []}} when the transcript names nobody."""


@dataclass(frozen=True)
class Line:
    number: int
    segment_uuid: UUID
    start_time: float
    text: str


@dataclass(frozen=True)
class SpeakerRef:
    uuid: UUID
    label: str
    name: str | None


@dataclass(frozen=True)
class Transcript:
    lines: list[Line]  # numbered from 1, in time order
    rendered: str  # the lines as sent: "[n] LABEL (name): text"
    speakers: dict[str, SpeakerRef]  # by label


@dataclass
class Found:
    """One proposal as validated (and, across parts, merged)."""

    label: str
    name: str
    confidence: float
    evidence: list[Evidence]


def _fold(text: str) -> tuple[str, list[int]]:
    """`text` compared as a person reads it: NFKC, case folded, each run of whitespace one space; with, for each
    character of the result, the index in `text` it came from (so a match is cut from the original)."""
    folded: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        if char.isspace():
            if folded and folded[-1] != " ":
                folded.append(" ")
                origin.append(index)
            continue
        for piece in unicodedata.normalize("NFKC", char).casefold():
            folded.append(piece)
            origin.append(index)
    while folded and folded[-1] == " ":
        folded.pop()
        origin.pop()
    return "".join(folded), origin


def find_quote(quote: str, text: str) -> str | None:
    """The part of `text` that `quote` is (ignoring case, whitespace and quotation marks around it), as `text`
    spells it; None when it is not there."""
    wanted, _ = _fold(quote.strip(QUOTE_MARKS))
    if len(wanted) < MIN_QUOTE_CHARS:
        return None
    haystack, origin = _fold(text)
    at = haystack.find(wanted)
    if at < 0:
        return None
    start, end = origin[at], origin[at + len(wanted) - 1]
    return text[start : end + 1]


def _verified(evidence: Any, lines: list[Line]) -> list[Evidence]:
    """The quotes found in the segment they cite or its neighbours, as the transcript spells them."""
    kept: list[Evidence] = []
    for item in evidence:
        if not isinstance(item, dict):
            raise AnswerInvalid('each item of "evidence" must be an object with "segment" and "quote"')
        number, quote = item.get("segment"), item.get("quote")
        if not isinstance(quote, str) or isinstance(number, bool) or not isinstance(number, int | str):
            continue  # nothing to check it against: unverifiable, dropped
        try:
            cited = int(number)
        except ValueError:
            continue
        for index in (cited - 1, cited - 2, cited):  # the cited segment first, then its neighbours
            if 0 <= index < len(lines):
                found = find_quote(quote[:MAX_QUOTE_CHARS], lines[index].text)
                if found is not None:
                    line = lines[index]
                    if not any(e.segment_uuid == line.segment_uuid and e.quote == found for e in kept):
                        kept.append(Evidence(line.segment_uuid, line.start_time, found))
                    break
    return kept


def validator(transcript: Transcript) -> Callable[[Any], list[Found]]:
    """ask_json's `validate`: the answer's proposals that hold up (module docstring); AnswerInvalid when the answer
    is not of the shape asked for."""

    def validate(answer: Any) -> list[Found]:
        if not isinstance(answer, dict) or not isinstance(answer.get("proposals"), list):
            raise AnswerInvalid('expected an object {"proposals": [...]}')
        found: list[Found] = []
        for number, item in enumerate(answer["proposals"], 1):
            if not isinstance(item, dict):
                raise AnswerInvalid(f"proposal {number} is not an object")
            label, name, confidence = item.get("speaker"), item.get("name"), item.get("confidence")
            evidence = item.get("evidence", [])
            if not isinstance(label, str) or not isinstance(name, str):
                raise AnswerInvalid(f'proposal {number}: "speaker" and "name" must be strings')
            if isinstance(confidence, bool) or not isinstance(confidence, int | float) or not 0 <= confidence <= 1:
                raise AnswerInvalid(f'proposal {number}: "confidence" must be a number from 0 to 1')
            if not isinstance(evidence, list):
                raise AnswerInvalid(f'proposal {number}: "evidence" must be a list')
            speaker = transcript.speakers.get(label.strip())
            name = " ".join(name.split())
            if speaker is None or not name or len(name) > MAX_NAME_LENGTH or name.casefold() == label.casefold():
                continue  # a label the file does not have, or no name: dropped
            if speaker.name and speaker.name.casefold() == name.casefold():
                continue  # it has that name already: nothing to accept
            quotes = _verified(evidence, transcript.lines)
            if quotes:
                found.append(Found(speaker.label, name, float(confidence), quotes))
        return found

    return validate


def merge(parts: list[list[Found]]) -> list[Found]:
    """One proposal per (speaker, name ignoring case): the highest confidence, the evidence of all, at most
    MAX_EVIDENCE quotes; at most MAX_PER_SPEAKER per speaker, the most confident."""
    merged: dict[tuple[str, str], Found] = {}
    for part in parts:
        for item in part:
            key = (item.label, item.name.casefold())
            known = merged.get(key)
            if known is None:
                merged[key] = Found(item.label, item.name, item.confidence, list(item.evidence[:MAX_EVIDENCE]))
                continue
            if item.confidence > known.confidence:
                known.name, known.confidence = item.name, item.confidence
            for quote in item.evidence:
                seen = any(e.segment_uuid == quote.segment_uuid and e.quote == quote.quote for e in known.evidence)
                if not seen and len(known.evidence) < MAX_EVIDENCE:
                    known.evidence.append(quote)
    ordered = sorted(merged.values(), key=lambda f: (f.label, -f.confidence, f.name.casefold()))
    kept: list[Found] = []
    for item in ordered:
        if sum(1 for k in kept if k.label == item.label) < MAX_PER_SPEAKER:
            kept.append(item)
    return kept


def _speakers_text(speakers: dict[str, SpeakerRef]) -> str:
    return "\n".join(f"- {s.label}: {s.name or 'no name yet'}" for s in speakers.values())


class ProposeSpeakerNames(LlmWork[Transcript, list[NewProposal]]):
    kind = SPEAKER_NAMES

    def prepare(self, conn: Connection, run: LlmRun) -> Transcript:
        actor = Actor(run.user_id)
        file_uuid = MediaFileRepository(conn).get_by_id(run.media_file_id).uuid
        speakers = {
            s.label: SpeakerRef(s.uuid, s.label, s.display_name)
            for s in SpeakerRepository(conn).list_for_file(actor, file_uuid)
        }
        segments = [seg for seg in SegmentRepository(conn).transcript(actor, file_uuid) if seg.text.strip()]
        if not segments:
            raise JobFailed("the file has no transcript yet: there is nothing to find names in")
        if not speakers:
            raise JobFailed("the transcript has no speakers to name")
        lines, rendered = [], []
        for number, seg in enumerate(segments, 1):
            text = " ".join(seg.text.split())
            lines.append(Line(number, seg.uuid, seg.start_time, text))
            label = seg.speaker_label or "UNKNOWN"
            named = f" ({seg.speaker_name})" if seg.speaker_name and seg.speaker_name != seg.speaker_label else ""
            rendered.append(f"[{number}] {label}{named}: {text}")
        return Transcript(lines, "\n".join(rendered), speakers)

    def produce(self, llm: MeteredLlm, source: Transcript, progress: Progress) -> list[NewProposal]:
        speakers = _speakers_text(source.speakers)
        note = "(Part {i} of {n} of a longer transcript; segment numbers are the whole transcript's.)"
        fixed = len(SYSTEM_PROMPT) + len(USER_PROMPT) + len(speakers) + len(note) + 16
        parts = split_lines(source.rendered, budget_chars(llm.context_tokens, llm.settings.max_tokens, fixed))
        validate = validator(source)
        answers: list[list[Found]] = []
        for index, part in enumerate(parts):
            count = len(parts)
            progress(0.05 + 0.9 * index / count, f"part {index + 1} of {count}" if count > 1 else "asking")
            prompt = USER_PROMPT.format(
                speakers=speakers,
                part_note=note.format(i=index + 1, n=count) if count > 1 else "",
                transcript=part,
            )
            label = f"part {index + 1} of {count}" if count > 1 else None
            answers.append(ask_json(llm, SYSTEM_PROMPT, prompt, validate, label=label))
        if len(parts) > 1:
            llm.note(f"merged the proposals of {len(parts)} parts")
        return [NewProposal(source.speakers[f.label].uuid, f.name, f.confidence, f.evidence) for f in merge(answers)]

    def store(self, conn: Connection, run: LlmRun, result: list[NewProposal]) -> str:
        stored = SpeakerNameProposalRepository(conn).create_many(run.id, result)
        if not stored:
            return "no names found in what was said"
        speakers = len({p.speaker_uuid for p in result})
        names = f"{stored} name{'s' if stored != 1 else ''}"
        return f"{names} proposed for {speakers} speaker{'s' if speakers != 1 else ''}: accept or reject them"


propose_speaker_names: Any = job_function(LlmRunBody(ProposeSpeakerNames()))
