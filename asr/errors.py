"""What can go wrong while turning audio into text; every message is written for the user who uploaded the file."""

from __future__ import annotations


class TranscriptionError(Exception):
    """No transcript can be produced; `str(exc)` is shown to the user as the file's error message."""


class TranscriptionCancelled(TranscriptionError):
    """`should_stop()` said stop: the work ended between two segments, on purpose."""

    def __init__(self) -> None:
        super().__init__("transcription cancelled")


class ModelMissing(TranscriptionError):
    """The speech model is not on this machine and could not be downloaded."""

    def __init__(self, model: str, reason: str) -> None:
        super().__init__(
            f"speech model {model!r} is not available on this machine ({reason}); "
            f"download it with: opentr models pull {model}"
        )
        self.model = model


class RemoteTranscriptionError(TranscriptionError):
    """The transcription server failed, timed out or answered something that is not a transcription."""
