"""Waveform peaks from generated WAV files of every PCM width, mono and multi-channel."""

from __future__ import annotations

import struct
import time
import wave
from array import array
from collections.abc import Sequence
from pathlib import Path

import pytest

from workers import waveform
from workers.media_probe import MediaError, ProbeUnavailable
from workers.waveform import WaveformUnavailable, peaks

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


@pytest.mark.parametrize("width", [1, 2, 3, 4])
@pytest.mark.parametrize("channels", [1, 2])
def test_silent_half_then_loud_half(tmp_path: Path, width: int, channels: int) -> None:
    path = write_wav(tmp_path / "a.wav", silent_then_loud(4000, channels, 0.5), width=width)

    result = peaks(path, buckets=100)

    assert len(result) == 100
    assert max(result[:50]) < 0.01
    assert all(p == pytest.approx(0.5, abs=0.01) for p in result[50:])


def test_channels_are_mixed_by_their_maximum(tmp_path: Path) -> None:
    quiet_left_loud_right = [[0.0, 0.9 if i % 2 else -0.9] for i in range(1000)]
    path = write_wav(tmp_path / "stereo.wav", quiet_left_loud_right)

    assert all(p == pytest.approx(0.9, abs=0.001) for p in peaks(path, buckets=10))


def test_peaks_are_bounded_to_one_and_land_in_the_right_bucket(tmp_path: Path) -> None:
    samples = array("h", bytes(20000))
    samples[3005] = -32768
    path = tmp_path / "click.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(samples.tobytes())

    result = peaks(path, buckets=100)

    assert result[30] == 1.0
    assert sum(result) == 1.0


@pytest.mark.parametrize(("frames", "buckets", "expected"), [(1000, 7, 7), (1000, 1000, 1000), (10, 1000, 10)])
def test_bucket_count_is_honoured(tmp_path: Path, frames: int, buckets: int, expected: int) -> None:
    path = write_wav(tmp_path / "a.wav", [[0.25]] * frames)

    result = peaks(path, buckets=buckets)

    assert len(result) == expected
    assert all(p == pytest.approx(0.25, abs=0.001) for p in result)


def test_default_is_a_thousand_buckets(tmp_path: Path) -> None:
    assert len(peaks(write_wav(tmp_path / "a.wav", [[0.1]] * 5000))) == 1000


def test_bucket_count_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="buckets must be at least 1"):
        peaks(write_wav(tmp_path / "a.wav", [[0.1]] * 10), buckets=0)


def test_empty_files_have_no_peaks(tmp_path: Path) -> None:
    no_frames = write_wav(tmp_path / "empty.wav", [])
    no_bytes = tmp_path / "zero.wav"
    no_bytes.write_bytes(b"")

    assert peaks(no_frames) == []
    assert peaks(no_bytes) == []


@pytest.mark.parametrize("width", [1, 2, 3, 4])
def test_result_does_not_depend_on_the_read_block_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, width: int
) -> None:
    frames = [[(i % 97) / 100, -((i * 7) % 89) / 100] for i in range(3001)]
    path = write_wav(tmp_path / "a.wav", frames, width=width)
    expected = peaks(path, buckets=37)

    monkeypatch.setattr(waveform, "BLOCK_BYTES", 5)
    assert peaks(path, buckets=37) == expected
    monkeypatch.setattr(waveform, "BLOCK_BYTES", 1000)
    assert peaks(path, buckets=37) == expected


def test_cut_off_wav_gives_peaks_for_the_audio_present(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "cut.wav", silent_then_loud(2000, 1, 0.5))
    path.write_bytes(path.read_bytes()[: 44 + 1500 * 2])

    result = peaks(path, buckets=3)

    assert result == [0.0, 0.0, 0.5]


def test_ten_minutes_of_speech_rate_audio_is_fast(tmp_path: Path) -> None:
    rate, seconds = 16000, 600
    pattern = array("h", [(i * 37) % 20000 - 10000 for i in range(rate)])
    path = tmp_path / "long.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        for _ in range(seconds):
            out.writeframes(pattern.tobytes())

    started = time.perf_counter()
    result = peaks(path)
    elapsed = time.perf_counter() - started

    assert len(result) == 1000
    assert all(p == pytest.approx(10000 / 32768, abs=0.001) for p in result)
    assert elapsed < 2.5, f"{elapsed:.2f} s for 10 minutes of audio"


def test_only_pcm_wav_has_a_waveform(tmp_path: Path) -> None:
    mp3 = tmp_path / "song.mp3"
    mp3.write_bytes(b"ID3\x04" + bytes(100))
    fmt = struct.pack("<HHIIHH", 3, 1, 8000, 32000, 4, 32)
    body = b"WAVEfmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", 400) + bytes(400)
    float_wav = tmp_path / "float.wav"
    float_wav.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)

    with pytest.raises(WaveformUnavailable, match=r"song\.mp3 is not a WAV file"):
        peaks(mp3)
    with pytest.raises(WaveformUnavailable, match=r"float\.wav is a WAV file in format tag 3 \(IEEE float\)") as caught:
        peaks(float_wav)
    assert isinstance(caught.value, ProbeUnavailable)


def test_corrupt_wav_is_a_media_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.wav"
    path.write_bytes(b"RIFF\x24\x00\x00\x00WAVEjunk" + bytes(40))

    with pytest.raises(MediaError, match=r"broken\.wav is not a readable WAV file") as caught:
        peaks(path)
    assert not isinstance(caught.value, ProbeUnavailable)


def test_chunks_before_the_samples_are_skipped(tmp_path: Path) -> None:
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 16000, 2, 16)
    info = b"INFOIART" + struct.pack("<I", 5) + b"Alice\0"
    data = pcm(silent_then_loud(400, 1, 0.75), 2)
    body = (
        b"WAVEfmt " + struct.pack("<I", 16) + fmt
        + b"LIST" + struct.pack("<I", len(info) - 1) + info
        + b"data" + struct.pack("<I", len(data)) + data
    )  # fmt: skip
    path = tmp_path / "tagged.wav"
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)

    assert peaks(path, buckets=4) == [0.0, 0.0, 0.75, 0.75]
