"""Cutting a stream of PCM chunks into bounded windows, and keeping times and progress absolute across them.

Memory holds one window plus one incoming chunk, never the recording: a 3-hour file at 16 kHz is 690 MB as float32,
a 5-minute window is 19 MB. Stitching: each window is transcribed on its own, so a word that straddles a cut is
heard half in each window (usually dropped or garbled once). To make that rare, a window does not end at exactly
`window_seconds` but in the middle of the quietest 100 ms of its last `CUT_SEARCH_SECONDS`, which in speech is
nearly always a pause between words. Timestamps are clamped into their window, so segments from different windows
never overlap and stay in order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from asr.types import SAMPLE_RATE, Pcm, Progress
from transcript.segments import Segment, Word

CUT_SEARCH_SECONDS = 5.0
FRAME_SAMPLES = SAMPLE_RATE // 10


@dataclass(frozen=True)
class Window:
    offset: float  # seconds from the start of the recording to this window's first sample
    audio: Pcm

    @property
    def seconds(self) -> float:
        return len(self.audio) / SAMPLE_RATE

    @property
    def end(self) -> float:
        return self.offset + self.seconds

    def absolute(self, seconds: float) -> float:
        """A time the engine gave relative to this window, as seconds from the start of the recording."""
        return self.offset + min(max(float(seconds), 0.0), self.seconds)


def windows(chunks: Iterable[Pcm], window_seconds: float) -> Iterator[Window]:
    """Consecutive windows of at most `window_seconds` covering every sample of `chunks` exactly once."""
    limit = max(FRAME_SAMPLES, int(window_seconds * SAMPLE_RATE))
    pending: list[Pcm] = []
    buffered = 0
    offset = 0
    for chunk in chunks:
        samples = np.asarray(chunk, dtype=np.float32)
        if samples.ndim != 1:  # flattening would interleave channels into noise at double length
            raise ValueError(f"PCM chunks must be 1-D mono, got shape {samples.shape}")
        if not samples.size:
            continue
        pending.append(samples)
        buffered += samples.size
        while buffered >= limit:
            audio = np.concatenate(pending)
            cut = quiet_cut(audio[:limit])
            yield Window(offset / SAMPLE_RATE, audio[:cut].copy())
            rest = audio[cut:].copy()  # a copy, so the big concatenated array can be freed
            pending, buffered, offset = [rest], rest.size, offset + cut
    if buffered:
        yield Window(offset / SAMPLE_RATE, np.concatenate(pending))


def quiet_cut(audio: Pcm) -> int:
    """Where to end a full window: the middle of its quietest 100 ms frame within the last CUT_SEARCH_SECONDS."""
    search = int(CUT_SEARCH_SECONDS * SAMPLE_RATE)
    if audio.size < 2 * search:
        return int(audio.size)
    frames = audio[audio.size - search :].reshape(-1, FRAME_SAMPLES)
    quietest = int(np.argmin(np.square(frames).sum(axis=1)))
    return int(audio.size - search + quietest * FRAME_SAMPLES + FRAME_SAMPLES // 2)


class ProgressMeter:
    """Forwards seconds-done to the caller only when they grow, so the caller sees a strictly increasing series."""

    def __init__(self, on_progress: Progress) -> None:
        self._on_progress = on_progress
        self.done = 0.0

    def report(self, seconds: float) -> None:
        if seconds > self.done:
            self.done = seconds
            self._on_progress(seconds)


class WindowWord(NamedTuple):
    """A word as an engine timed it, in seconds from the start of its window."""

    start: float
    end: float
    text: str
    probability: float | None


def place(
    window: Window, start: float, end: float, text: str, words: Sequence[WindowWord], not_before: float
) -> Segment:
    """A segment whose times (and its words' times) the engine gave relative to `window`, made absolute, kept inside
    the window and starting no earlier than the previous segment (`not_before`), so the stream stays in order."""
    absolute_start = max(window.absolute(start), not_before)
    placed_words = []
    for word in words:
        word_start = window.absolute(word.start)
        placed_words.append(Word(word.text, word_start, max(window.absolute(word.end), word_start), word.probability))
    absolute_end = max(window.absolute(end), absolute_start)
    return Segment(absolute_start, absolute_end, text.strip(), None, tuple(placed_words) or None)
