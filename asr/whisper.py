"""The faster-whisper engine (OPENTR_ASR_ENGINE=faster-whisper): a CTranslate2 Whisper model in this process.

The model is loaded once per process and reused by every job (`load_model` is cached on the settings that change
what is loaded), because loading `large-v3` takes seconds and gigabytes. Audio is transcribed window by window
(`asr.windows`); the language is detected on the first window and then used for all later ones, so one recording
gets one language. Word timestamps are always on.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from asr import models
from asr.errors import TranscriptionCancelled, TranscriptionError
from asr.types import Pcm, Progress, ShouldStop, Transcription
from asr.windows import ProgressMeter, Window, WindowWord, place, windows
from transcript.segments import Segment

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

    from config.settings import Settings

log = logging.getLogger("opentr.asr.whisper")
Device = Literal["auto", "cpu", "cuda"]
# Whisper's own temperature fallback: decode again hotter when the text is repetitive or improbable.
FALLBACK_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


@dataclass(frozen=True)
class WhisperConfig:
    model: str = "small"
    device: Device = "auto"
    compute_type: str | None = None  # None: int8 on CPU, float16 on GPU
    models_dir: Path = Path(".opentr/models")
    beam_size: int = 5
    vad: bool = True
    vad_threshold: float = 0.5
    temperatures: tuple[float, ...] = FALLBACK_TEMPERATURES
    # Off as in WhisperX: conditioning on the previous window's text is what lets one hallucination repeat for minutes.
    condition_on_previous_text: bool = False
    window_seconds: float = 300.0

    @classmethod
    def from_settings(cls, settings: Settings) -> WhisperConfig:
        return cls(
            model=settings.opentr_asr_model,
            device=settings.opentr_asr_device,
            compute_type=settings.opentr_asr_compute_type,
            models_dir=settings.asr_models_dir,
            beam_size=settings.opentr_asr_beam_size,
            vad=settings.opentr_asr_vad,
            temperatures=FALLBACK_TEMPERATURES if settings.opentr_asr_temperature_fallback else (0.0,),
        )


@functools.lru_cache(maxsize=2)
def load_model(path: str, device: Device, compute_type: str | None) -> WhisperModel:
    """The loaded model, built on the first call for these arguments and shared afterwards."""
    import ctranslate2
    from faster_whisper import WhisperModel

    on_gpu = device == "cuda" or (device == "auto" and ctranslate2.get_cuda_device_count() > 0)
    chosen = compute_type or ("float16" if on_gpu else "int8")
    log.info("loading speech model %s on %s (%s)", path, "cuda" if on_gpu else "cpu", chosen)
    try:
        return WhisperModel(path, device="cuda" if on_gpu else "cpu", compute_type=chosen)
    except (RuntimeError, ValueError) as exc:  # e.g. a compute type this device cannot run, a corrupt model.bin
        raise TranscriptionError(f"cannot load speech model {path}: {exc}") from None


class WhisperEngine:
    name = "faster-whisper"

    def __init__(self, config: WhisperConfig) -> None:
        self.config = config

    def transcribe(
        self,
        chunks: Iterable[Pcm],
        *,
        total_seconds: float | None,
        language: str | None,
        on_progress: Progress,
        should_stop: ShouldStop,
    ) -> Transcription:
        path = models.resolve(self.config.model, self.config.models_dir)
        model = load_model(str(path), self.config.device, self.config.compute_type)
        log.info("transcribing %s s of audio with %s", "?" if total_seconds is None else f"{total_seconds:.0f}", path)
        pending = windows(chunks, self.config.window_seconds)
        first = next(pending, None)
        if first is None:
            return Transcription(language, None, iter(()))
        try:
            segments, info = self._start(model, first, language)
        except ValueError as exc:  # faster-whisper's verdict on an unknown language code
            raise TranscriptionError(f"language {language!r}: {exc}") from None
        detected = str(info.language)  # the one used: an English-only model says "en" whatever it was asked
        probability = None if language else float(info.language_probability)
        stream = self._stream(model, first, segments, pending, detected, ProgressMeter(on_progress), should_stop)
        return Transcription(detected, probability, stream)

    def _start(self, model: WhisperModel, window: Window, language: str | None) -> tuple[Iterator[Any], Any]:
        config = self.config
        segments, info = model.transcribe(
            window.audio,
            language=language,
            beam_size=config.beam_size,
            temperature=list(config.temperatures),
            condition_on_previous_text=config.condition_on_previous_text,
            word_timestamps=True,
            vad_filter=config.vad,
            vad_parameters={"threshold": config.vad_threshold} if config.vad else None,
        )
        return iter(segments), info

    def _stream(
        self,
        model: WhisperModel,
        first: Window,
        first_segments: Iterator[Any],
        rest: Iterator[Window],
        language: str | None,
        meter: ProgressMeter,
        should_stop: ShouldStop,
    ) -> Iterator[Segment]:
        not_before = 0.0
        window, segments = first, first_segments
        while True:
            for segment in _checked(segments, should_stop):
                if segment.start >= window.seconds:
                    continue  # said over the silence padding the model's last 30 s frame: a hallucination
                placed = _place(window, segment, not_before)
                not_before = placed.start_time
                meter.report(placed.end_time)
                yield placed
            meter.report(window.end)
            if should_stop():
                raise TranscriptionCancelled()
            following = next(rest, None)
            if following is None:
                return
            window = following
            segments, _ = self._start(model, window, language)


def _checked(segments: Iterator[Any], should_stop: ShouldStop) -> Iterator[Any]:
    """The model's segments, asking `should_stop` before decoding each one (decoding happens in `next`)."""
    while True:
        if should_stop():
            raise TranscriptionCancelled()
        segment = next(segments, None)
        if segment is None:
            return
        yield segment


def _place(window: Window, segment: Any, not_before: float) -> Segment:
    words = [WindowWord(w.start, w.end, w.word, float(w.probability)) for w in segment.words or []]
    return place(window, segment.start, segment.end, segment.text, words, not_before)
