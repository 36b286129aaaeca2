"""Transcript files uploaded with a recording (WhisperX JSON, SRT, WebVTT) parsed into segments (`Segment`, the
same value an engine yields), and a WhisperX file's voices.

The format is recognised by content, not by file name. Speaker labels come from WhisperX's `speaker` field, a WebVTT
voice tag (`<v SPEAKER_01>`) or a leading `[SPEAKER_01]: ` / `SPEAKER_01: ` prefix. Text is cleaned of markup and
whitespace. Anything malformed raises `SidecarError` naming the cue or segment (and line) at fault. Segments repeated
with the same start, end and text are kept once, since the database holds each only once per file.
A WhisperX JSON made with `return_embeddings` also carries `speaker_embeddings` (label -> vector):
`parse_speaker_embeddings` reads them as voices, for voice matching across files.
"""

from __future__ import annotations

import html
import json
import math
import re
from dataclasses import replace
from typing import Any, NoReturn

from transcript.segments import Segment, Word, json_number, json_text
from transcript.speakers import Voice

_TIMESTAMP = r"(?:(\d+):)?(\d{1,2}):(\d{2})(?:[.,](\d+))?"
_TIMING = re.compile(rf"\s*{_TIMESTAMP}\s*-->\s*{_TIMESTAMP}(?:\s+.*)?")
_VOICE = re.compile(r"<v(?:\.[^\s>]*)?\s+([^>]+)>")
_TAG = re.compile(r"</?(?:[a-zA-Z][^<>]*|\d[\d:.]*)>")
_ASS_OVERRIDE = re.compile(r"\{\\[^}]*\}")
_BRACKETED_SPEAKER = re.compile(r"\[([^\[\]]{1,100})\]\s*:\s*")
_PLAIN_SPEAKER = re.compile(r"(SPEAKER[_ ]?\d+)\s*:\s*", re.IGNORECASE)
_VTT_SKIPPED_BLOCKS = ("NOTE", "STYLE", "REGION")


class SidecarError(Exception):
    """The transcript sidecar cannot be imported; the message says where and why."""


def parse_sidecar(data: bytes, filename: str | None = None) -> list[Segment]:
    """Segments of a WhisperX JSON, SRT or WebVTT transcript, in file order."""
    try:
        segments = _parse(_decode(data))
    except SidecarError as exc:
        raise SidecarError(f"{filename}: {exc}" if filename else str(exc)) from None
    return _without_repeats(segments)


def parse_speaker_embeddings(data: bytes, filename: str | None = None) -> dict[str, Voice]:
    """WhisperX's top-level `speaker_embeddings` ({"SPEAKER_00": [0.1, ...]}) as each label's voice; {} for SRT,
    WebVTT or a JSON transcript without them. A malformed entry is a SidecarError naming its label."""
    text = _decode(data).lstrip()
    if not text.startswith("{"):
        return {}
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except (json.JSONDecodeError, SidecarError):
        return {}  # parse_sidecar reports a broken document; the embeddings are only an extra
    found = document.get("speaker_embeddings") if isinstance(document, dict) else None
    if found is None:
        return {}
    where = f"{filename}: " if filename else ""
    if not isinstance(found, dict):
        raise SidecarError(f'{where}"speaker_embeddings" must be an object mapping speaker labels to lists of numbers')
    voices: dict[str, Voice] = {}
    for label, vector in found.items():
        name = _normalise(str(label))
        if not name or not isinstance(vector, list) or not vector:
            raise SidecarError(f"{where}speaker_embeddings[{label!r}]: expected a non-empty list of numbers")
        if not all(isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) for x in vector):
            raise SidecarError(f"{where}speaker_embeddings[{label!r}]: every value must be a finite number")
        voices[name] = Voice([float(x) for x in vector])
    return voices


def _parse(text: str) -> list[Segment]:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    content = text.lstrip()
    if not content:
        raise SidecarError("no segments")
    if content.startswith("WEBVTT"):
        segments = _parse_vtt(text)
    elif content[0] in "{[":
        segments = _parse_whisperx(text)
    elif any(_TIMING.fullmatch(line) for line in text.split("\n")):
        segments = _parse_srt(text)
    else:
        raise SidecarError("unrecognised transcript format: expected WebVTT, SRT or WhisperX JSON")
    if not segments:
        raise SidecarError("no segments")
    return segments


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise SidecarError("the transcript starts with a UTF-16 byte order mark but is not UTF-16 text") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SidecarError(f"the transcript is not UTF-8 text (invalid byte at offset {exc.start})") from None


def _blocks(text: str) -> list[tuple[int, list[str]]]:
    """Runs of non-blank lines, each with the 1-based number of its first line."""
    blocks: list[tuple[int, list[str]]] = []
    current: list[str] = []
    for number, line in enumerate(text.split("\n"), 1):
        if line.strip():
            if not current:
                blocks.append((number, current))
            current.append(line)
        elif current:
            current = []
    return blocks


def _parse_srt(text: str) -> list[Segment]:
    segments = []
    for ordinal, (first_line, lines) in enumerate(_blocks(text), 1):
        index = lines[0].strip()
        has_index = index.isdigit()
        where = f"cue {index if has_index else ordinal}"
        timing_at = 1 if has_index else 0
        segments.append(_cue(where, first_line + timing_at, lines[timing_at:], "00:00:01,000 --> 00:00:02,500"))
    return segments


def _parse_vtt(text: str) -> list[Segment]:
    blocks = _blocks(text)
    header_line, header = blocks[0]
    timing_in_header = next((i for i, line in enumerate(header) if "-->" in line), None)
    cue_blocks = blocks[1:]
    if timing_in_header is not None:
        start = max(timing_in_header - 1, 1)
        cue_blocks.insert(0, (header_line + start, header[start:]))
    segments: list[Segment] = []
    for first_line, lines in cue_blocks:
        if lines[0].split(maxsplit=1)[0] in _VTT_SKIPPED_BLOCKS and "-->" not in lines[0]:
            continue
        timing_at = 0 if "-->" in lines[0] else 1
        where = f"cue {len(segments) + 1}"
        segments.append(_cue(where, first_line + timing_at, lines[timing_at:], "00:01.000 --> 00:02.500"))
    return segments


def _cue(where: str, line_number: int, lines: list[str], example: str) -> Segment:
    """A cue from its timing line and the text lines below it."""
    timing = _TIMING.fullmatch(lines[0]) if lines else None
    if timing is None:
        found = repr(lines[0].strip()) if lines else "nothing"
        raise SidecarError(f"{where} (line {line_number}): expected a timing line like '{example}', found {found}")
    groups = timing.groups()
    start = _seconds(groups[:4], where, line_number)
    end = _seconds(groups[4:], where, line_number)
    if end < start:
        raise SidecarError(f"{where} (line {line_number}): ends at {end:.3f} s, before it starts at {start:.3f} s")
    text, speaker = _clean_cue_text(" ".join(lines[1:]))
    if not text:
        raise SidecarError(f"{where} (line {line_number}): the cue has no text")
    return Segment(start, end, text, speaker)


def _seconds(parts: tuple[str | None, ...], where: str, line_number: int) -> float:
    hours, minutes, seconds = (int(part or 0) for part in parts[:3])
    if seconds >= 60 or (parts[0] is not None and minutes >= 60):
        raise SidecarError(f"{where} (line {line_number}): a timestamp has minutes or seconds of 60 or more")
    whole = (hours * 60 + minutes) * 60 + seconds
    fraction = parts[3]
    micros = int((fraction or "").ljust(6, "0")[:6])
    return (whole * 1_000_000 + micros) / 1_000_000


def _clean_cue_text(raw: str) -> tuple[str, str | None]:
    voice = _VOICE.search(raw)
    speaker = (_normalise(voice.group(1)) or None) if voice else None
    text = _normalise(html.unescape(_ASS_OVERRIDE.sub("", _TAG.sub("", raw))))
    if speaker is None:
        prefix = _BRACKETED_SPEAKER.match(text) or _PLAIN_SPEAKER.match(text)
        if prefix:
            speaker = _normalise(prefix.group(1)) or None
            text = text[prefix.end() :]
    return text, speaker


def _normalise(text: str) -> str:
    return " ".join(text.split())


def _parse_whisperx(text: str) -> list[Segment]:
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise SidecarError(f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    items = document.get("segments") if isinstance(document, dict) else document
    if not isinstance(items, list):
        raise SidecarError('a JSON transcript must be an object with a "segments" list (WhisperX output)')
    return [_json_segment(item, number) for number, item in enumerate(items, 1)]


def _reject_constant(name: str) -> NoReturn:
    raise SidecarError(f"the JSON transcript contains {name}, which is not a valid number")


def _json_segment(item: object, number: int) -> Segment:
    where = f"segment {number}"
    if not isinstance(item, dict):
        raise SidecarError(f"{where}: expected an object with start, end and text")
    start = _time(item, "start", where)
    end = _time(item, "end", where)
    if start is None or end is None:
        raise SidecarError(f'{where}: "start" and "end" are required')
    if end < start:
        raise SidecarError(f"{where}: ends at {end:.3f} s, before it starts at {start:.3f} s")
    text = item.get("text")
    if not isinstance(text, str):
        raise SidecarError(f'{where}: "text" must be a string')
    if not _normalise(text):
        raise SidecarError(f"{where}: the segment has no text")
    words = item.get("words")
    if words is not None and not isinstance(words, list):
        raise SidecarError(f'{where}: "words" must be a list')
    parsed = tuple(w for i, raw in enumerate(words or [], 1) if (w := _json_word(raw, f"{where}, word {i}")))
    return Segment(start, end, _normalise(text), _label(item, where), parsed or None)


def _json_word(raw: object, where: str) -> Word | None:
    """A WhisperX word (the one reading of its keys: `Word.from_json`), cleaned like the rest of the file; None for
    a word of only white space."""
    if isinstance(raw, dict) and isinstance(raw.get("word"), str) and not _normalise(raw["word"]):
        return None
    try:
        word = Word.from_json(raw)
    except ValueError as exc:
        raise SidecarError(f"{where}: {exc}") from None
    for key, value in (("start", word.start), ("end", word.end), ("score", word.score)):
        if value is not None and value < 0:
            raise SidecarError(f'{where}: "{key}" is negative ({value})')
    return replace(word, text=_normalise(word.text), speaker=_normalise(word.speaker or "") or None)


def _time(item: dict[str, Any], key: str, where: str) -> float | None:
    try:
        value = json_number(item, key)
    except ValueError as exc:
        raise SidecarError(f"{where}: {exc}") from None
    if value is not None and value < 0:
        raise SidecarError(f'{where}: "{key}" is negative ({value})')
    return value


def _label(item: dict[str, Any], where: str) -> str | None:
    try:
        value = json_text(item, "speaker")
    except ValueError as exc:
        raise SidecarError(f"{where}: {exc}") from None
    return _normalise(value or "") or None


def _without_repeats(segments: list[Segment]) -> list[Segment]:
    seen: set[tuple[float, float, str]] = set()
    kept = []
    for segment in segments:
        key = (segment.start_time, segment.end_time, segment.text)
        if key not in seen:
            seen.add(key)
            kept.append(segment)
    return kept
