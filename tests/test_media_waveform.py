"""Waveform peaks from every container, and from PCM WAV of every width (generated with the stdlib)."""

from __future__ import annotations

import wave
from array import array
from collections.abc import Sequence
from pathlib import Path

import pytest

from media import waveform
from media.waveform import MediaError, peaks
from tests.media_fixtures import BY_NAME, LOUD, QUIET, SAMPLES, Sample, encode, encoded, random_bytes, truncated

pytestmark = pytest.mark.same_on_every_server  # reaches no server DATABASE_URL / REDIS_URL name (see conftest)

FULL_SCALE = {1: 127, 2: 32767, 3: 8388607, 4: 2147483647}


def pcm(frames: Sequence[Sequence[float]], width: int) -> bytes:
    """Interleaved little-endian PCM for frames of per-channel levels in -1..1."""
    out = bytearray()
    for frame in frames:
        for level in frame:
            value = round(level * FULL_SCALE[width])
            if width == 1:
                out.append(128 + value)
            else:
                out += value.to_bytes(width, "little", signed=True)
    return bytes(out)


def write_wav(path: Path, frames: Sequence[Sequence[float]], *, width: int = 2, rate: int = 8000) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(len(frames[0]) if frames else 1)
        out.setsampwidth(width)
        out.setframerate(rate)
        out.writeframes(pcm(frames, width))
    return path


def silent_then_loud(count: int, channels: int, level: float) -> list[list[float]]:
    loud = [level if i % 2 else -level for i in range(count // 2)]
    return [[0.0] * channels for _ in range(count // 2)] + [[v] * channels for v in loud]


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.name)
def test_each_container_tells_the_quiet_half_from_the_loud_half(sample: Sample) -> None:
    result = peaks(encoded(sample.name), buckets=100)

    assert len(result) == 100
    assert all(0.0 <= p <= 1.0 for p in result)
    assert max(result[5:45]) == pytest.approx(QUIET, abs=0.02)
    assert min(result[55:95]) == pytest.approx(LOUD, abs=0.1)


def test_default_is_a_thousand_buckets() -> None:
    assert len(peaks(encoded("voice.m4a"))) == 1000


@pytest.mark.parametrize("width", [1, 2, 3, 4])
@pytest.mark.parametrize("channels", [1, 2])
def test_every_pcm_width_is_scaled_to_full_scale(tmp_path: Path, width: int, channels: int) -> None:
    result = peaks(write_wav(tmp_path / "a.wav", silent_then_loud(4000, channels, 0.5), width=width), buckets=100)

    assert len(result) == 100
    assert max(result[:50]) < 0.01
    assert all(p == pytest.approx(0.5, abs=0.01) for p in result[50:])


def test_channels_are_mixed_by_their_maximum(tmp_path: Path) -> None:
    quiet_left_loud_right = [[0.0, 0.9 if i % 2 else -0.9] for i in range(1000)]

    result = peaks(write_wav(tmp_path / "stereo.wav", quiet_left_loud_right), buckets=10)

    assert all(p == pytest.approx(0.9, abs=0.001) for p in result)


def click(path: Path, samples: int, at: int) -> Path:
    data = array("h", bytes(2 * samples))
    data[at] = -32768
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(data.tobytes())
    return path


def test_a_click_lands_in_its_bucket(tmp_path: Path) -> None:
    result = peaks(click(tmp_path / "click.wav", 10000, 3005), buckets=100)

    assert result[30] == 1.0
    assert sum(result) == 1.0


def test_long_files_keep_bounded_cells_and_the_same_buckets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = click(tmp_path / "click.wav", 80000, 61234)
    expected = peaks(path, buckets=50)

    monkeypatch.setattr(waveform, "MAX_CELLS", 256)  # forces the cells to merge pairwise several times
    merged = peaks(path, buckets=50)

    assert merged == expected
    assert expected[61234 * 50 // 80000] == 1.0 and sum(expected) == 1.0


@pytest.mark.parametrize(("frames", "buckets", "expected"), [(1000, 7, 7), (1000, 1000, 1000), (10, 1000, 10)])
def test_bucket_count_is_honoured(tmp_path: Path, frames: int, buckets: int, expected: int) -> None:
    result = peaks(write_wav(tmp_path / "a.wav", [[0.25]] * frames), buckets=buckets)

    assert len(result) == expected
    assert all(p == pytest.approx(0.25, abs=0.001) for p in result)


def test_bucket_count_must_be_positive() -> None:
    with pytest.raises(ValueError, match="buckets must be at least 1"):
        peaks(encoded("tone.wav"), buckets=0)


def test_a_video_without_sound_has_no_waveform(tmp_path: Path) -> None:
    from tests.test_media_thumbnail import silent_video

    assert peaks(silent_video(tmp_path / "screen.mp4")) == []


def test_a_cut_off_wav_gives_peaks_for_the_audio_present(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "cut.wav", silent_then_loud(2000, 1, 0.5))
    path.write_bytes(path.read_bytes()[: 44 + 1500 * 2])  # as a recorder that died mid-take leaves it

    assert peaks(path, buckets=3) == [0.0, 0.0, 0.5]


@pytest.mark.parametrize("name", ["talk.mp3", "music.flac"])
def test_truncated_compressed_files_are_media_errors(tmp_path: Path, name: str) -> None:
    cut = truncated(encoded(name), tmp_path / name)

    with pytest.raises(MediaError, match=rf"^could not read {name}: it is truncated or damaged: its header declares 3"):
        peaks(cut)


def test_a_video_whose_sound_stops_early_is_not_truncated(tmp_path: Path) -> None:
    path = encode(tmp_path / "lecture.mkv", BY_NAME["lecture.mkv"], seconds=6.0, audio_seconds=3.0)

    result = peaks(path, buckets=10)

    assert len(result) == 10 and min(result[6:]) > 0.5  # the loud half of the 3 s of sound


def test_random_bytes_are_a_media_error(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match=r"^could not read talk\.mp3: not a recognised audio or video file"):
        peaks(random_bytes(tmp_path / "talk.mp3"))
