"""How a transcript refers to its speakers before they have rows: by label, with what the uploader said about how
many there are and, when diarization or a WhisperX file gives one, each label's voice.

A label is `SPEAKER_00`, `SPEAKER_01`… (numbered by first appearance) from diarization, or whatever a transcript
file names (`<v Roger Bingham>`). When a transcript is stored, each label becomes one speaker row of the file; a
stored segment then refers to that row (`transcript.segments.TranscriptSegment`), whose display name a user may
set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

MAX_SPEAKERS = 100
DEFAULT_SPEAKER = "SPEAKER_00"  # an engine gives no labels: its whole transcript is one speaker until diarized


def numbered_speaker(index: int) -> str:
    """The label of the `index`-th speaker (from 0) in order of first appearance: SPEAKER_00, SPEAKER_01…"""
    return f"SPEAKER_{index:02d}"


@dataclass(frozen=True, slots=True)
class SpeakerHints:
    """What the uploader knows about the number of speakers; None: unknown. `num_speakers` wins over the range.
    Requests are checked where they come in (a 4xx naming the field); a value out of range here is a bug."""

    min_speakers: int | None = None
    max_speakers: int | None = None
    num_speakers: int | None = None

    def __post_init__(self) -> None:
        for name in ("min_speakers", "max_speakers", "num_speakers"):
            value = getattr(self, name)
            if value is not None and not 1 <= value <= MAX_SPEAKERS:
                raise ValueError(f"{name}: must be between 1 and {MAX_SPEAKERS}")
        if self.min_speakers is not None and self.max_speakers is not None and self.min_speakers > self.max_speakers:
            raise ValueError("min_speakers: must not exceed max_speakers")


@dataclass(frozen=True, slots=True)
class Voice:
    """One speaker's embedding as diarization (or a WhisperX file) produced it: any length, any scale."""

    embedding: Sequence[float]
    seconds: float | None = None  # the speech it was computed from: the weight it carries into a profile
