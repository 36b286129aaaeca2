"""The real faster-whisper engine on a tiny random-weight model: structure of what it produces, never its text."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from faster_whisper.tokenizer import _LANGUAGE_CODES
from huggingface_hub import constants

from asr.errors import ModelMissing, TranscriptionCancelled, TranscriptionError
from asr.types import SAMPLE_RATE, Pcm, Transcription
from asr.whisper import WhisperConfig, WhisperEngine, load_model
from transcript.segments import Segment

pytestmark = pytest.mark.same_on_every_server  # reaches no server DATABASE_URL / REDIS_URL name (see conftest)

CHUNK_SECONDS = 2.0


def tone(seconds: float, hz: float = 440.0, seed: int = 1) -> Pcm:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    noise = np.random.default_rng(seed).standard_normal(t.size)
    return (0.3 * np.sin(2 * np.pi * hz * t) + 0.05 * noise).astype(np.float32)


class Source:
    """PCM chunks as the decoder yields them, counting how many were taken."""

    def __init__(self, audio: Pcm) -> None:
        step = int(CHUNK_SECONDS * SAMPLE_RATE)
        self.chunks = [audio[i : i + step] for i in range(0, audio.size, step)]
        self.taken = 0

    def __iter__(self) -> Iterator[Pcm]:
        for chunk in self.chunks:
            self.taken += 1
            yield chunk


def config(model_dir: Path, **changes: object) -> WhisperConfig:
    # Greedy, one temperature, no VAD: random weights trigger every fallback otherwise, and VAD hears no speech.
    base = WhisperConfig(
        model=str(model_dir), device="cpu", beam_size=1, vad=False, temperatures=(0.0,), window_seconds=8.0
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def run(
    model_dir: Path, audio: Pcm, progress: list[float] | None = None, **changes: object
) -> tuple[Transcription, Source]:
    source = Source(audio)
    transcription = WhisperEngine(config(model_dir, **changes)).transcribe(
        source,
        total_seconds=audio.size / SAMPLE_RATE,
        language=None,
        on_progress=(progress if progress is not None else []).append,
        should_stop=lambda: False,
    )
    return transcription, source


def test_segments_are_absolute_ordered_and_carry_word_timings(tiny_whisper_dir: Path) -> None:
    audio = np.concatenate([tone(8.0), tone(6.0, hz=220, seed=2)])
    transcription, _ = run(tiny_whisper_dir, audio)
    segments = list(transcription.segments)

    assert transcription.language == "en" and transcription.language_probability == 1.0
    assert segments and all(isinstance(s, Segment) for s in segments)
    assert all(0 <= s.start_time <= s.end_time <= 14.0 for s in segments)
    assert [s.start_time for s in segments] == sorted(s.start_time for s in segments)
    words = [w for s in segments for w in s.words or ()]
    assert words and all(type(w.start) is float and type(w.end) is float for w in words)
    assert all(0 <= (w.start or -1) <= (w.end or -1) <= 14.0 for w in words)
    assert all(w.score is not None and 0 <= w.score <= 1 for w in words)
    assert all(s.speaker_label is None for s in segments)


def test_segments_come_lazily_and_audio_is_read_one_window_at_a_time(tiny_whisper_dir: Path) -> None:
    audio = np.concatenate([tone(8.0), tone(8.0, hz=220, seed=2), tone(8.0, hz=330, seed=3)])
    transcription, source = run(tiny_whisper_dir, audio)

    first_window_chunks = 8.0 / CHUNK_SECONDS
    assert source.taken == first_window_chunks  # transcribe() read the first window only
    first = next(transcription.segments)
    assert first.start_time < 8.0 and source.taken == first_window_chunks
    rest = list(transcription.segments)
    assert source.taken == len(source.chunks) == 12
    assert rest[-1].start_time >= 16.0


def test_second_window_is_the_same_transcript_shifted_by_its_offset(tiny_whisper_dir: Path) -> None:
    first, second = tone(8.0), tone(6.0, hz=220, seed=2)
    together, _ = run(tiny_whisper_dir, np.concatenate([first, second]))
    alone, _ = run(tiny_whisper_dir, second)

    later = [s for s in together.segments if s.start_time >= 8.0]
    expected = list(alone.segments)
    assert later and len(later) == len(expected)
    for got, want in zip(later, expected, strict=True):
        assert got.start_time == pytest.approx(want.start_time + 8.0)
        assert got.end_time == pytest.approx(want.end_time + 8.0)
        assert [w.start for w in got.words or ()] == pytest.approx([(w.start or 0) + 8.0 for w in want.words or ()])
        assert got.text == want.text


def test_progress_strictly_increases_and_ends_at_the_audio_length(tiny_whisper_dir: Path) -> None:
    progress: list[float] = []
    audio = np.concatenate([tone(8.0), tone(7.3, hz=220, seed=2)])
    transcription, _ = run(tiny_whisper_dir, audio, progress)

    assert progress == []  # nothing is reported before segments are consumed
    list(transcription.segments)
    assert len(progress) >= 3
    assert all(a < b for a, b in itertools.pairwise(progress))
    assert progress[-1] == pytest.approx(audio.size / SAMPLE_RATE)
    assert 8.0 in progress  # the end of the first window


def test_should_stop_ends_the_run_between_segments(tiny_whisper_dir: Path) -> None:
    audio = np.concatenate([tone(8.0), tone(8.0, hz=220, seed=2), tone(8.0, hz=330, seed=3)])
    source = Source(audio)
    seen: list[Segment] = []
    transcription = WhisperEngine(config(tiny_whisper_dir)).transcribe(
        source, total_seconds=24.0, language=None, on_progress=lambda _: None, should_stop=lambda: len(seen) >= 1
    )

    with pytest.raises(TranscriptionCancelled, match="transcription cancelled"):
        for segment in transcription.segments:
            seen.append(segment)
    assert len(seen) == 1
    assert source.taken < len(source.chunks)  # the rest of the recording was never decoded


def test_the_model_is_loaded_once_for_many_jobs(tiny_whisper_dir: Path) -> None:
    load_model.cache_clear()
    for _ in range(2):
        transcription, _ = run(tiny_whisper_dir, tone(3.0))
        list(transcription.segments)

    assert load_model.cache_info().misses == 1
    assert load_model.cache_info().hits == 1


@pytest.mark.parametrize("asked", ["en", "de"])
def test_a_given_language_replaces_detection_as_far_as_the_model_can(tiny_whisper_dir: Path, asked: str) -> None:
    transcription = WhisperEngine(config(tiny_whisper_dir)).transcribe(
        Source(tone(3.0)), total_seconds=3.0, language=asked, on_progress=lambda _: None, should_stop=lambda: False
    )

    assert transcription.language == "en"  # the tiny model is English-only, like tiny.en: it reports what it used
    assert transcription.language_probability is None  # nothing was detected


def test_vad_on_hears_no_speech_in_silence_where_the_model_alone_invents_some(tiny_whisper_dir: Path) -> None:
    hum = (0.001 * np.random.default_rng(4).standard_normal(6 * SAMPLE_RATE)).astype(np.float32)
    without_vad, _ = run(tiny_whisper_dir, hum)
    progress: list[float] = []
    with_vad, _ = run(tiny_whisper_dir, hum, progress, vad=True)

    assert list(without_vad.segments)
    assert list(with_vad.segments) == []
    assert progress == [6.0]


def test_empty_audio_gives_no_segments(tiny_whisper_dir: Path) -> None:
    transcription, _ = run(tiny_whisper_dir, np.zeros(0, np.float32))

    assert list(transcription.segments) == []


@pytest.mark.parametrize("offline", ["HF_HUB_OFFLINE", "unreachable hub"])
def test_a_missing_model_names_itself_and_the_command_to_fetch_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offline: str
) -> None:
    if offline == "HF_HUB_OFFLINE":
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    else:
        monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # discard port: nothing listens
    engine = WhisperEngine(WhisperConfig(model="tiny", device="cpu", models_dir=tmp_path / "models"))

    with pytest.raises(ModelMissing) as caught:
        engine.transcribe(
            Source(tone(1.0)), total_seconds=1.0, language=None, on_progress=lambda _: None, should_stop=lambda: False
        )

    assert "speech model 'tiny' is not available" in str(caught.value)
    assert str(caught.value).endswith("download it with: opentr models pull tiny")


def test_a_multilingual_model_reports_the_language_it_detected(tiny_multilingual_whisper_dir: Path) -> None:
    progress: list[float] = []
    audio = np.concatenate([tone(8.0), tone(4.0, hz=220, seed=2)])
    transcription, _ = run(tiny_multilingual_whisper_dir, audio, progress)
    segments = list(transcription.segments)

    assert transcription.language in _LANGUAGE_CODES
    assert transcription.language_probability is not None and 0 < transcription.language_probability <= 1
    assert all(0 <= s.start_time <= s.end_time <= 12.0 for s in segments)
    assert progress[-1] == pytest.approx(12.0)


def test_a_multilingual_model_refuses_an_unknown_language(tiny_multilingual_whisper_dir: Path) -> None:
    engine = WhisperEngine(config(tiny_multilingual_whisper_dir))

    with pytest.raises(TranscriptionError, match=r"^language 'xx': 'xx' is not a valid language code"):
        engine.transcribe(
            Source(tone(2.0)), total_seconds=2.0, language="xx", on_progress=lambda _: None, should_stop=lambda: False
        )
