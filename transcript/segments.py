"""A transcript's segments and their words: one type for a segment before it is stored (whoever made it) and one
for a segment as it is read back, with the words' JSON form written here and nowhere else.

`Segment` is what a speech engine yields (asr/), what a transcript file parses into (transcript/sidecars.py), what a
job stages while it runs (repo/transcript_staging.py) and what becomes rows (repo/segments.py): the same value all
the way, so nothing converts it by hand. It names its speaker by label (`transcript/speakers.py`).

`TranscriptSegment` is a stored segment as the database returns it, with its speaker reference resolved: the
speaker's uuid, its label and the name to show (the display name a user gave, else the label). It is what the API
serves field for field, and what exports and subtitles are made from (transcript/subtitles.py).

Words are stored and served in WhisperX's JSON form, `{"word", "start", "end", "score", "speaker"}`, each key but
"word" only when known (`Word.as_json` / `Word.from_json`). A stored segment keeps its words as that JSON, as
written: an imported transcript's may carry other keys, and the API hands them on unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import orjson

WordsJson = list[dict[str, Any]]


def json_number(item: Mapping[str, Any], key: str) -> float | None:
    """`item[key]` as a float; None when absent or null; ValueError naming the key for anything but a finite number
    (a JSON `true` is not a number, though Python counts it as one)."""
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f'"{key}" must be a number, not {value!r}')
    return float(value)


def json_text(item: Mapping[str, Any], key: str) -> str | None:
    """`item[key]` when it is a string; None when absent or null; ValueError naming the key otherwise."""
    value = item.get(key)
    if value is None or isinstance(value, str):
        return value
    raise ValueError(f'"{key}" must be a string, not {value!r}')


@dataclass(frozen=True, slots=True)
class Word:
    """One word as it was said: its text (an engine's keeps its leading space), and what is known of its timing,
    the engine's confidence (0..1; faster-whisper's `probability`, WhisperX's `score`) and its speaker's label."""

    text: str
    start: float | None = None
    end: float | None = None
    score: float | None = None
    speaker: str | None = None

    def as_json(self) -> dict[str, Any]:
        """WhisperX's form of the word: the keys of what is known."""
        found: dict[str, Any] = {"word": self.text}
        if self.start is not None:
            found["start"] = self.start
        if self.end is not None:
            found["end"] = self.end
        if self.score is not None:
            found["score"] = self.score
        if self.speaker is not None:
            found["speaker"] = self.speaker
        return found

    @classmethod
    def from_json(cls, raw: object) -> Word:
        """The word of WhisperX's form, exactly (no text is cleaned); other keys are ignored. ValueError saying what
        is wrong for anything else."""
        if not isinstance(raw, dict):
            raise ValueError("expected an object with a word")
        text = raw.get("word")
        if not isinstance(text, str):
            raise ValueError('"word" must be a string')
        return cls(
            text,
            json_number(raw, "start"),
            json_number(raw, "end"),
            json_number(raw, "score"),
            json_text(raw, "speaker"),
        )


def words_json(words: Iterable[Word]) -> bytes:
    """Words as compact JSON for a `json` column (stored and served as written), UTF-8 encoded: the form binary COPY
    sends. orjson: ~10x faster than json.dumps (ingest's largest client-side cost, bench/README.md); building the
    dicts costs about as much again (~0.1 µs a word). orjson writes NaN and infinities as null: output with a null
    (rare: a word "null") is checked. ValueError for a number that is not finite or text that cannot be UTF-8 (a
    lone surrogate)."""
    forms = [word.as_json() for word in words]
    try:
        text = orjson.dumps(forms)
    except orjson.JSONEncodeError as exc:
        raise ValueError(f"words cannot be written as JSON: {exc}") from None
    if b"null" in text:
        for number, form in enumerate(forms, 1):
            for key in ("start", "end", "score"):
                if key in form and not math.isfinite(form[key]):
                    raise ValueError(f'word {number}: "{key}" must be a finite number, not {form[key]!r}')
    return text


def words_from_json(raw: object) -> tuple[Word, ...] | None:
    """Stored words (parsed JSON) back as words; None for no words. ValueError naming the word at fault."""
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise ValueError("words must be a list")
    found = []
    for number, item in enumerate(raw, 1):
        try:
            found.append(Word.from_json(item))
        except ValueError as exc:
            raise ValueError(f"word {number}: {exc}") from None
    return tuple(found)


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of speech before it is stored: seconds from the start of the recording, its text, the label of its
    speaker (None: unknown) and its words (None: no word timings; an engine's or a WhisperX file's)."""

    start_time: float
    end_time: float
    text: str
    speaker_label: str | None = None
    words: tuple[Word, ...] | None = None

    def words_json(self) -> bytes | None:
        """The words as stored (None: no words row)."""
        return None if self.words is None else words_json(self.words)


@dataclass(frozen=True, slots=True)
class TranscriptSegment:
    """A stored segment as read: the API's transcript item, field for field (sql/segments.sql builds the same JSON
    for the whole transcript). `speaker_uuid`, `speaker_label` and `speaker_name` are its speaker reference: all
    None for a segment without a speaker; `speaker_name` is the display name a user gave, else the label. `version`
    counts its edits (If-Match compares it: web/preconditions.py)."""

    uuid: UUID
    start_time: float
    end_time: float
    text: str
    words: WordsJson | None
    speaker_uuid: UUID | None
    speaker_label: str | None
    speaker_name: str | None
    version: int = 1
