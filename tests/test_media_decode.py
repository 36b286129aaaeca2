"""Streamed 16 kHz mono PCM for the ASR engines, from every container, in chunks of the requested length."""

from __future__ import annotations

import wave
from collections.abc import Generator
from pathlib import Path

import numpy as np
import pytest

from media.decode import MediaError, duration_seconds, pcm_chunks
from tests.media_fixtures import LOUD, QUIET, SAMPLES, SECONDS, Sample, encoded, random_bytes, truncated

pytestmark = pytest.mark.same_on_every_server  # reaches no server DATABASE_URL / REDIS_URL name (see conftest)

RATE = 16000


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.name)
def test_each_container_decodes_to_16_khz_mono_in_whole_chunks(sample: Sample) -> None:
    chunks = list(pcm_chunks(encoded(sample.name), chunk_seconds=1.0))

    total = sum(len(c) for c in chunks)
    assert total == pytest.approx(SECONDS * RATE, abs=0.1 * RATE)
    assert [len(c) for c in chunks[:-1]] == [RATE] * (len(chunks) - 1)
    assert 0 < len(chunks[-1]) <= RATE
    assert all(c.dtype == np.float32 and c.ndim == 1 for c in chunks)
    audio = np.concatenate(chunks)
    assert float(np.abs(audio).max()) <= 1.0
    half = int(SECONDS * RATE / 2)
    quiet, loud = audio[RATE // 10 : half - RATE // 10], audio[half + RATE // 10 : 2 * half - RATE // 10]
    # the tone's RMS is its level / sqrt(2); stereo channels are averaged, not summed
    assert float(np.sqrt(np.mean(quiet**2))) == pytest.approx(QUIET / np.sqrt(2), rel=0.2)
    assert float(np.sqrt(np.mean(loud**2))) == pytest.approx(LOUD / np.sqrt(2), rel=0.1)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.name)
def test_duration_comes_from_the_headers(sample: Sample) -> None:
    assert duration_seconds(encoded(sample.name)) == pytest.approx(SECONDS, abs=0.1)


def test_chunk_length_and_rate_are_the_callers() -> None:
    chunks = list(pcm_chunks(encoded("talk.mp3"), sample_rate=8000, chunk_seconds=0.25))

    assert [len(c) for c in chunks[:-1]] == [2000] * (len(chunks) - 1)
    assert sum(len(c) for c in chunks) == pytest.approx(SECONDS * 8000, abs=80)


def test_the_default_is_thirty_second_chunks(tmp_path: Path) -> None:
    path = tmp_path / "long.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(bytes(2 * 8000 * 65))

    assert [len(c) for c in pcm_chunks(path)] == [30 * RATE, 30 * RATE, 5 * RATE]


def test_chunks_come_before_the_file_is_read_through() -> None:
    chunks = pcm_chunks(encoded("music.flac"), chunk_seconds=0.5)

    first = next(chunks)

    assert len(first) == RATE // 2
    assert isinstance(chunks, Generator)
    chunks.close()  # the container is closed with the generator


def test_a_truncated_mp3_yields_what_decodes_then_fails(tmp_path: Path) -> None:
    cut = truncated(encoded("talk.mp3"), tmp_path / "talk.mp3")
    got: list[int] = []

    with pytest.raises(MediaError) as caught:
        for chunk in pcm_chunks(cut, chunk_seconds=0.5):
            got.append(len(chunk))

    assert str(caught.value) == (
        "could not read talk.mp3: it is truncated or damaged: its header declares 3.0 s of audio, only 1.5 s decode"
    )
    assert sum(got) == pytest.approx(1.5 * RATE, abs=0.1 * RATE)


def test_random_bytes_fail_before_any_chunk(tmp_path: Path) -> None:
    chunks = pcm_chunks(random_bytes(tmp_path / "talk.mp3"))

    with pytest.raises(MediaError, match=r"^could not read talk\.mp3: not a recognised audio or video file"):
        next(chunks)


def test_a_video_without_sound_has_nothing_to_transcribe(tmp_path: Path) -> None:
    from tests.test_media_thumbnail import silent_video

    path = silent_video(tmp_path / "screen.mp4")

    with pytest.raises(MediaError, match=r"^could not read screen\.mp4: it has no audio stream to transcribe$"):
        next(pcm_chunks(path))
    assert duration_seconds(path) is None


@pytest.mark.parametrize(("rate", "seconds"), [(0, 30.0), (16000, 0.0)])
def test_nonsense_arguments_are_refused(rate: int, seconds: float) -> None:
    with pytest.raises(ValueError, match="must"):
        next(pcm_chunks(encoded("tone.wav"), sample_rate=rate, chunk_seconds=seconds))
