"""Per-file speaker-count hints (given at upload, read by the diarization stage) and the stage's outcome."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from repo import statements as s
from repo.database import Connection
from repo.errors import Invalid

MAX_SPEAKERS = 100
Outcome = Literal["diarized", "off", "models_missing", "failed", "transcript"]


@dataclass(frozen=True, slots=True)
class SpeakerHints:
    """What the uploader knows about the number of speakers; None: unknown. `num_speakers` wins over the range."""

    min_speakers: int | None = None
    max_speakers: int | None = None
    num_speakers: int | None = None

    def __post_init__(self) -> None:
        for name in ("min_speakers", "max_speakers", "num_speakers"):
            value = getattr(self, name)
            if value is not None and not 1 <= value <= MAX_SPEAKERS:
                raise Invalid(f"{name}: must be between 1 and {MAX_SPEAKERS}", name)
        if self.min_speakers is not None and self.max_speakers is not None and self.min_speakers > self.max_speakers:
            raise Invalid("min_speakers: must not exceed max_speakers", "min_speakers")


_set_hints = s.execute("diarization.set_hints")
_hints = s.one("diarization.hints", SpeakerHints)
_set_outcome = s.execute("diarization.set_outcome")


class DiarizationRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def set_hints(self, file_id: int, hints: SpeakerHints) -> None:
        _set_hints(
            self.conn,
            file_id=file_id,
            min_speakers=hints.min_speakers,
            max_speakers=hints.max_speakers,
            num_speakers=hints.num_speakers,
        )

    def hints(self, file_id: int) -> SpeakerHints:
        return _hints(self.conn, file_id=file_id)

    def set_outcome(self, file_id: int, outcome: Outcome) -> None:
        """What the file's speaker labels come from; the analytics route shows it."""
        _set_outcome(self.conn, file_id=file_id, outcome=outcome)
