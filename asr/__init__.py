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


def speech_engine(settings: Settings) -> SpeechEngine:
    """The configured engine; `TranscriptionError` naming the choices for any other name."""
    name = (settings.opentr_asr_engine or "").strip().lower()
    if name == "faster-whisper":
        from asr.whisper import WhisperConfig, WhisperEngine

        return WhisperEngine(WhisperConfig.from_settings(settings))
    if name == "openai":
        from asr.remote import RemoteConfig, RemoteEngine

        return RemoteEngine(RemoteConfig.from_settings(settings))
    raise TranscriptionError(f"OPENTR_ASR_ENGINE={name!r} is not a speech engine; expected one of {ENGINE_NAMES}")
