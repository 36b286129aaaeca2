"""A transcript's export cues and their SRT and WebVTT renderings: one cue per stored segment (`Cue.of`), or split
into readable cues.

Readable cues follow the usual subtitling limits: at most MAX_LINE characters per line, MAX_LINES lines and
MAX_CUE_SECONDS on screen. A segment's time is shared among its words by their length (segments carry no reliable
per-word timing once edited), so a cue starts about when its first word is said.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from transcript.segments import TranscriptSegment

MAX_LINE = 42
MAX_LINES = 2
MAX_CUE_SECONDS = 7.0
MAX_NAME = 24  # a longer speaker name is cut, so that name and first word share a line


@dataclass(frozen=True, slots=True)
class Cue:
    """Text on screen from `start_time` to `end_time`, after its speaker's name when `speaker_name` is set."""

    start_time: float
    end_time: float
    text: str  # its lines joined with "\n"
    speaker_name: str | None = None  # None: no speaker, or the name is already part of `text`

    @classmethod
    def of(cls, segment: TranscriptSegment) -> Cue:
        """A stored segment as one cue, said by the name its speaker is shown with."""
        return cls(segment.start_time, segment.end_time, segment.text, segment.speaker_name)


# SRT and WebVTT write two-digit hours; a stored time beyond them (or not a number at all, from an old row or
# another tool) is clamped into the format instead of failing the whole file.
MAX_MILLIS = 100 * 3_600_000 - 1


def timestamp(seconds: float, separator: str) -> str:
    millis = 0 if math.isnan(seconds) else min(MAX_MILLIS, max(0, round(min(seconds, MAX_MILLIS / 1000) * 1000)))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _line(cue: Cue) -> str:
    # White space collapsed within each line; line breaks kept (a readable cue has two), blank lines dropped
    # because a blank line ends a cue.
    text = "\n".join(" ".join(line.split()) for line in cue.text.splitlines() if line.strip())
    return f"{cue.speaker_name}: {text}" if cue.speaker_name else text


def srt(cues: Iterable[Cue]) -> Iterable[str]:
    for number, cue in enumerate(cues, start=1):
        yield (
            f"{number}\n{timestamp(cue.start_time, ',')} --> {timestamp(cue.end_time, ',')}\n"
            f"{_line(cue).replace('-->', '->')}\n\n"
        )


def vtt(cues: Iterable[Cue], notes: Iterable[str] = ()) -> Iterable[str]:
    """WebVTT; `notes` become NOTE blocks (comments for whoever reads the file, never shown)."""
    yield "WEBVTT\n\n"
    for note in notes:
        lines = [" ".join(line.split()).replace("-->", "->") for line in note.splitlines() if line.strip()]
        if lines:
            yield "NOTE\n" + "\n".join(lines) + "\n\n"
    for cue in cues:
        text = _line(cue).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        yield f"{timestamp(cue.start_time, '.')} --> {timestamp(cue.end_time, '.')}\n{text}\n\n"


@dataclass(frozen=True, slots=True)
class _Placed:
    """A word of a cue with the time it gets on screen (a share of the cue's time by its length)."""

    text: str
    start: float
    end: float


def _pieces(word: str) -> Iterator[str]:
    """A word longer than a line, cut into line-sized pieces (URLs, long numbers)."""
    for at in range(0, len(word), MAX_LINE):
        yield word[at : at + MAX_LINE]


def _timed_words(cue: Cue, show_speaker: bool) -> list[_Placed]:
    words = [piece for word in cue.text.split() for piece in _pieces(word)]
    if show_speaker and cue.speaker_name:
        name = " ".join(cue.speaker_name.split())[:MAX_NAME].replace("-->", "->")
        words.insert(0, f"{name}:")
    total = sum(len(word) + 1 for word in words)
    start, span = cue.start_time, max(0.0, cue.end_time - cue.start_time)
    timed, said = [], 0
    for word in words:
        begin = start + span * said / total
        said += len(word) + 1
        timed.append(_Placed(word, begin, start + span * said / total))
    return timed


def _lines(words: Sequence[str]) -> list[str]:
    lines: list[str] = []
    for word in words:
        if lines and len(lines[-1]) + 1 + len(word) <= MAX_LINE:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def readable_cues(cues: Iterable[Cue], *, show_speaker: bool = True) -> Iterator[Cue]:
    """Each cue split into cues of at most MAX_LINES lines of MAX_LINE characters and MAX_CUE_SECONDS, the speaker's
    name (when shown) becoming the first word of the first one."""
    for cue in cues:
        pending: list[_Placed] = []
        for word in _timed_words(cue, show_speaker):
            candidate = [w.text for w in (*pending, word)]
            too_long = pending and word.end - pending[0].start > MAX_CUE_SECONDS
            if pending and (too_long or len(_lines(candidate)) > MAX_LINES):
                yield _cue(pending)
                pending = []
            pending.append(word)
        if pending:
            yield _cue(pending)


def _cue(words: list[_Placed]) -> Cue:
    start = words[0].start
    end = min(words[-1].end, start + MAX_CUE_SECONDS)  # one word said slowly still leaves the screen in time
    return Cue(start, end, "\n".join(_lines([w.text for w in words])))
