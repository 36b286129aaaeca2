"""The faster-whisper engine (OPENTR_ASR_ENGINE=faster-whisper): a CTranslate2 Whisper model in this process.

The model is loaded once per process and reused by every job (`load_model` is cached on the settings that change
what is loaded), because loading `large-v3` takes seconds and gigabytes. Audio is transcribed window by window
(`asr.windows`); the language is detected on the first window and then used for all later ones, so one recording
gets one language. Word timestamps are always on.

Two ways to decode a window into the same kind of segments: sequentially (faster-whisper's `WhisperModel.transcribe`,
one 30 s frame after another, with temperature fallback), or batched (`BatchedInferencePipeline`, `batched`): the
window is cut into chunks of at most 30 s — by voice activity, silence dropped, or into equal pieces with VAD off —
and `batch_size` chunks are decoded at once, which keeps a GPU busy. The batched pipeline decodes without timestamp
tokens and at the first temperature only (no fallback; conditioning on the previous text is off in both paths), so
its segment is a whole chunk: it is cut after each word that ends a sentence (`phrases`).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import logging
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from asr import models
from asr.devices import Device, runs_on_gpu
from asr.errors import TranscriptionCancelled, TranscriptionError
from asr.types import Pcm, Progress, ShouldStop, Transcription
from asr.windows import ProgressMeter, Window, WindowWord, place, windows
from transcript.choices import Task
from transcript.segments import Segment

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

    from config.settings import Settings

log = logging.getLogger("opentr.asr.whisper")
Batched = Literal["auto", "on", "off"]
# Whisper's own temperature fallback: decode again hotter when the text is repetitive or improbable.
FALLBACK_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
CHUNK_SECONDS = 30  # Whisper's input length: the batched pipeline's chunks are at most this long
# Silence that separates two chunks of speech in the batched pipeline (its own default; the sequential path keeps
# faster-whisper's 2 s, as its chunks are not limited to 30 s)
BATCHED_MIN_SILENCE_MS = 160
# ASCII, the ellipsis, CJK full stop and full-width question/exclamation marks, Arabic question mark, Devanagari danda
SENTENCE_ENDS = (".", "?", "!", "\u2026", "\u3002", "\uff1f", "\uff01", "\u061f", "\u0964")


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
    batched: Batched = "auto"  # auto: when the model runs on a GPU
    batch_size: int = 8

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
            batched=settings.opentr_asr_batched,
            batch_size=settings.opentr_asr_batch_size,
        )

    def runs_batched(self, gpus: int | None = None) -> bool:
        """Whether windows go through the batched pipeline (`gpus`: how many GPUs there are; None: probe)."""
        if self.batched != "auto":
            return self.batched == "on"
        return runs_on_gpu(self.device, gpus)


@functools.lru_cache(maxsize=2)
def load_model(path: str, device: Device, compute_type: str | None) -> WhisperModel:
    """The loaded model, built on the first call for these arguments and shared afterwards."""
    from faster_whisper import WhisperModel

    on_gpu = runs_on_gpu(device)
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
        task: Task = "transcribe",
        vocabulary: str | None = None,
    ) -> Transcription:
        path = models.resolve(self.config.model, self.config.models_dir)
        model = load_model(str(path), self.config.device, self.config.compute_type)
        batched = self.config.runs_batched()
        log.info(
            "transcribing %s s of audio with %s (%s)",
            "?" if total_seconds is None else f"{total_seconds:.0f}",
            path,
            f"batched, {self.config.batch_size} chunks at a time" if batched else "sequentially",
        )
        pending = windows(chunks, self.config.window_seconds)
        first = next(pending, None)
        if first is None:
            return Transcription(language, None, iter(()))
        asked = Asked(language, task, vocabulary)
        log.info("decoding options: %s", asked.options())
        try:
            segments, info = self._start(model, first, asked, batched)
        except ValueError as exc:  # faster-whisper's verdict on an unknown language code
            raise TranscriptionError(f"language {language!r}: {exc}") from None
        detected = str(info.language)  # the one used: an English-only model says "en" whatever it was asked
        probability = None if language else float(info.language_probability)
        meter = ProgressMeter(on_progress)
        following = dataclasses.replace(asked, language=detected)
        stream = self._stream(model, first, segments, pending, following, batched, meter, should_stop)
        return Transcription(detected, probability, stream)

    def _start(self, model: WhisperModel, window: Window, asked: Asked, batched: bool) -> tuple[Iterator[Any], Any]:
        """Start decoding one window: its lazy segments (times relative to the window) and faster-whisper's info."""
        config = self.config
        options: dict[str, Any] = {
            **asked.options(),
            "beam_size": config.beam_size,
            "temperature": list(config.temperatures),
            "condition_on_previous_text": config.condition_on_previous_text,
            "word_timestamps": True,
        }
        if batched:
            segments, info = _start_batched(model, window, config, options)
        else:
            vad = {"threshold": config.vad_threshold} if config.vad else None
            segments, info = model.transcribe(window.audio, vad_filter=config.vad, vad_parameters=vad, **options)
        return iter(segments), info

    def _stream(
        self,
        model: WhisperModel,
        first: Window,
        first_segments: Iterator[Any],
        rest: Iterator[Window],
        asked: Asked,
        batched: bool,
        meter: ProgressMeter,
        should_stop: ShouldStop,
    ) -> Iterator[Segment]:
        not_before = 0.0
        previous: tuple[float, float, str] | None = None
        window, segments = first, first_segments
        while True:
            for segment in _checked(segments, should_stop):
                if segment.start >= window.seconds:
                    continue  # said over the silence padding the model's last 30 s frame: a hallucination
                for start, end, text, words in phrases(segment, batched):
                    placed = place(window, start, end, text, words, not_before)
                    identity = (placed.start_time, placed.end_time, placed.text)
                    # Told to write no timestamps, a model that writes them anyway gets a segment per timestamp
                    # token: nothing said, often the same one again, which a transcript refuses (repo/segments.py).
                    if batched and ((not placed.text and not placed.words) or identity == previous):
                        continue
                    not_before, previous = placed.start_time, identity
                    meter.report(placed.end_time)
                    yield placed
            meter.report(window.end)
            if should_stop():
                raise TranscriptionCancelled()
            following = next(rest, None)
            if following is None:
                return
            window = following
            segments, _ = self._start(model, window, asked, batched)


@dataclass(frozen=True)
class Asked:
    """What the caller asked of one run: the language (None: detect on the first window), the task, the vocabulary.

    The vocabulary goes in as faster-whisper's `hotwords`, which prefix the prompt of every 30 s frame; an
    `initial_prompt` would reach the first frame only, as conditioning on previous text is off (WhisperConfig)."""

    language: str | None
    task: Task = "transcribe"
    vocabulary: str | None = None

    def options(self) -> dict[str, Any]:
        """The keyword arguments of faster-whisper's `transcribe` that carry these choices."""
        return {"language": self.language, "task": self.task, "hotwords": self.vocabulary or None}


def _start_batched(
    model: WhisperModel, window: Window, config: WhisperConfig, options: dict[str, Any]
) -> tuple[Iterable[Any], Any]:
    from faster_whisper import BatchedInferencePipeline
    from faster_whisper.vad import VadOptions

    # A new pipeline per window: it carries the last word's time from batch to batch and forgets it only when a
    # run is read to its end, which a cancelled run never is. It holds nothing else (the model is shared).
    pipeline = BatchedInferencePipeline(model)
    if config.vad:
        vad = VadOptions(
            threshold=config.vad_threshold,
            max_speech_duration_s=CHUNK_SECONDS,
            min_silence_duration_ms=BATCHED_MIN_SILENCE_MS,
        )
        chunking: dict[str, Any] = {"vad_filter": True, "vad_parameters": vad}
    else:
        chunking = {"vad_filter": False, "clip_timestamps": even_clips(window.seconds)}
    segments, info = pipeline.transcribe(window.audio, batch_size=config.batch_size, **chunking, **options)
    return segments, info


def even_clips(seconds: float) -> list[dict[str, float]]:
    """`seconds` of audio as the fewest equal pieces of at most CHUNK_SECONDS (the batched pipeline without VAD):
    equal, so no piece is a sliver the model would fill with invented words."""
    count = max(1, math.ceil(seconds / CHUNK_SECONDS))
    step = seconds / count
    return [{"start": i * step, "end": seconds if i == count - 1 else (i + 1) * step} for i in range(count)]


def _checked(segments: Iterator[Any], should_stop: ShouldStop) -> Iterator[Any]:
    """The model's segments, asking `should_stop` before decoding each one (decoding happens in `next`)."""
    while True:
        if should_stop():
            raise TranscriptionCancelled()
        segment = next(segments, None)
        if segment is None:
            return
        yield segment


def phrases(segment: Any, by_sentence: bool) -> Iterator[tuple[float, float, str, list[WindowWord]]]:
    """(start, end, text, words) of the model's segment, or with `by_sentence` of each sentence in it. The batched
    pipeline decodes without timestamp tokens, so its segment is a whole chunk (up to 30 s of speech): cut after each
    word that ends a sentence, a line of the transcript is about what the sequential path's phrases are."""
    words = [WindowWord(w.start, w.end, w.word, float(w.probability)) for w in segment.words or []]
    cuts = [i + 1 for i, w in enumerate(words[:-1]) if w.text.rstrip().endswith(SENTENCE_ENDS)] if by_sentence else []
    if not cuts:
        yield segment.start, segment.end, segment.text, words
        return
    for begin, end in itertools.pairwise([0, *cuts, len(words)]):
        run = words[begin:end]
        yield run[0].start, run[-1].end, "".join(w.text for w in run), run
