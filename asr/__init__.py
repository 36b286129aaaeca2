"""Speech recognition: engines that turn 16 kHz mono PCM into timed segments with word timings.

`asr` depends on nothing of web/, workers/ or repo/ (only config.settings, and the transcript vocabulary its
segments are made of), so a worker, a benchmark or a script can use it.
`speech_engine(settings)` builds the engine OPENTR_ASR_ENGINE names; the heavy libraries load only when used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from asr.errors import TranscriptionError
from config.settings import ASR_ENGINES

if TYPE_CHECKING:
    from asr.types import SpeechEngine
    from config.settings import Settings

ENGINE_NAMES = ASR_ENGINES  # named once, in the settings, which refuse any other at start


def speech_engine(settings: Settings, model: str | None = None) -> SpeechEngine:
    """The configured engine, with `model` instead of the configured model when given (a file's choice, one of
    `asr.availability.model_choices`); `TranscriptionError` naming the choices for any other engine name."""
    import dataclasses

    name = (settings.opentr_asr_engine or "").strip().lower()
    if name == "faster-whisper":
        from asr.whisper import WhisperConfig, WhisperEngine

        config = WhisperConfig.from_settings(settings)
        return WhisperEngine(dataclasses.replace(config, model=model) if model else config)
    if name == "openai":
        from asr.remote import RemoteConfig, RemoteEngine

        remote = RemoteConfig.from_settings(settings)
        return RemoteEngine(dataclasses.replace(remote, model=model) if model else remote)
    raise TranscriptionError(f"OPENTR_ASR_ENGINE={name!r} is not a speech engine; expected one of {ENGINE_NAMES}")
