"""The transcription engine registry and the built-in sidecar engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from workers.engines import (
    NoTranscriptSource,
    SidecarEngine,
    TranscriptionEngine,
    TranscriptionError,
    UnknownEngine,
    get_engine,
)
from workers.sidecars import SidecarError, SidecarSegment

SRT = b"1\n00:00:00,000 --> 00:00:01,500\nSPEAKER_00: Good morning.\n"


@pytest.mark.parametrize("name", [None, "sidecar", " Sidecar ", ""])
def test_sidecar_is_the_default_engine(name: str | None) -> None:
    engine = get_engine(name)

    assert isinstance(engine, SidecarEngine)
    assert isinstance(engine, TranscriptionEngine)
    assert engine.name == "sidecar"


def test_unknown_engine_names_the_ones_available() -> None:
    with pytest.raises(UnknownEngine, match=r"unknown transcription engine 'whisperx'; available engines: sidecar"):
        get_engine("whisperx")


def test_sidecar_engine_imports_the_uploaded_transcript(tmp_path: Path) -> None:
    segments = get_engine(None).transcribe(tmp_path / "talk.mp3", SRT, "en")

    assert segments == [SidecarSegment(0.0, 1.5, "Good morning.", "SPEAKER_00")]


def test_without_a_sidecar_there_is_nothing_to_transcribe(tmp_path: Path) -> None:
    with pytest.raises(NoTranscriptSource) as caught:
        get_engine("sidecar").transcribe(tmp_path / "talk.mp3", None, None)

    assert str(caught.value) == "this file has no transcript sidecar and no ASR engine is configured"
    assert isinstance(caught.value, TranscriptionError)


def test_bad_sidecar_error_says_which_file_it_belongs_to(tmp_path: Path) -> None:
    with pytest.raises(SidecarError, match=r"^transcript of talk\.mp3: unrecognised transcript format"):
        get_engine(None).transcribe(tmp_path / "talk.mp3", b"hello", None)
