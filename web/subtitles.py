"""SRT and WebVTT renderings of a transcript."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Protocol


class Cue(Protocol):
    @property
    def start_time(self) -> float: ...
    @property
    def end_time(self) -> float: ...
    @property
    def text(self) -> str: ...
    @property
    def speaker_name(self) -> str | None: ...


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
    text = " ".join(cue.text.split())
    return f"{cue.speaker_name}: {text}" if cue.speaker_name else text


def srt(cues: Iterable[Cue]) -> Iterable[str]:
    for number, cue in enumerate(cues, start=1):
        yield (
            f"{number}\n{timestamp(cue.start_time, ',')} --> {timestamp(cue.end_time, ',')}\n"
            f"{_line(cue).replace('-->', '->')}\n\n"
        )


def vtt(cues: Iterable[Cue]) -> Iterable[str]:
    yield "WEBVTT\n\n"
    for cue in cues:
        text = _line(cue).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        yield f"{timestamp(cue.start_time, '.')} --> {timestamp(cue.end_time, '.')}\n{text}\n\n"
