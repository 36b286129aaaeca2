"""Transcription engines: what turns an uploaded file into transcript segments.

The built-in engine imports a transcript sidecar (WhisperX JSON, SRT or WebVTT) uploaded with the media. A real ASR
engine (WhisperX) plugs in by implementing `TranscriptionEngine` and adding a factory to `ENGINES`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

from workers.sidecars import SidecarSegment, parse_sidecar

DEFAULT_ENGINE = "sidecar"


class TranscriptionError(Exception):
    """No transcript can be produced with the configured engine."""


class NoTranscriptSource(TranscriptionError):
    """The file came without a sidecar and no engine can listen to the audio itself."""


class UnknownEngine(TranscriptionError):
    """The configured engine name is not one this worker knows."""


@runtime_checkable
class TranscriptionEngine(Protocol):
    @property
    def name(self) -> str: ...

    def transcribe(self, media_path: Path, sidecar: bytes | None, language: str | None) -> list[SidecarSegment]:
        """Segments of the media's speech; raises `TranscriptionError` or `SidecarError` when there are none."""
        ...


class SidecarEngine:
    """Imports the transcript uploaded alongside the media; the media itself and `language` are not used."""

    name = "sidecar"

    def transcribe(self, media_path: Path, sidecar: bytes | None, language: str | None) -> list[SidecarSegment]:
        if sidecar is None:
            raise NoTranscriptSource("this file has no transcript sidecar and no ASR engine is configured")
        return parse_sidecar(sidecar, f"transcript of {media_path.name}")


ENGINES: dict[str, Callable[[], TranscriptionEngine]] = {"sidecar": SidecarEngine}


def get_engine(name: str | None) -> TranscriptionEngine:
    """The engine called `name` (case-insensitive); the sidecar importer when no name is configured."""
    key = (name or DEFAULT_ENGINE).strip().lower() or DEFAULT_ENGINE
    factory = ENGINES.get(key)
    if factory is None:
        known = ", ".join(sorted(ENGINES))
        raise UnknownEngine(f"unknown transcription engine {name!r}; available engines: {known}")
    return factory()
