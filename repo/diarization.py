"""Per-file speaker-count hints (`transcript.speakers.SpeakerHints`, given at upload, read by the diarization
stage) and the stage's outcome."""

from __future__ import annotations

from typing import Literal

from repo import statements as s
from repo.database import Connection
from transcript.speakers import SpeakerHints

Outcome = Literal["diarized", "off", "models_missing", "failed", "transcript"]

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
