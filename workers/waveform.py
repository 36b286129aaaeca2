"""Waveform peaks for the player: the loudest sample of each time bucket, 0 (silence) to 1 (full scale).

Only PCM WAV is decoded (with the stdlib; 8, 16, 24 and 32-bit, any number of channels). The file is streamed in
blocks of about a megabyte, so its size does not matter; per-bucket maxima use `max`/`min` over typed arrays, which
run in C.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Sequence
from pathlib import Path

from workers.media_probe import MediaError, ProbeUnavailable, WavLayout, wav_layout

BLOCK_BYTES = 1 << 20
DECIMALS = 4


class WaveformUnavailable(ProbeUnavailable):
    """The file is not PCM WAV, so no waveform can be computed here (the player can do without one)."""


def peaks(path: Path, buckets: int = 1000) -> list[float]:
    """Peak amplitude per bucket, normalised to full scale and rounded to 4 decimals.

    Gives `min(buckets, frames)` values, so every bucket covers at least one frame; [] for a file without audio.
    Raises `WaveformUnavailable` for anything but PCM WAV and `MediaError` for a corrupt WAV.
    """
    if buckets < 1:
        raise ValueError(f"buckets must be at least 1, not {buckets}")
    header = _header(path)
    if not header:
        return []
    if header[:4] != b"RIFF" or header[8:12] != b"WAVE":
        raise WaveformUnavailable(f"{path.name} is not a WAV file; waveforms can only be computed for PCM WAV")
    try:
        layout = wav_layout(path)
    except ProbeUnavailable as exc:
        raise WaveformUnavailable(f"{exc}; waveforms can only be computed for PCM WAV") from None
    if layout.frames == 0:
        return []
    center, full_scale = _scale(layout.sample_width)
    return [
        round(min(amplitude / full_scale, 1.0), DECIMALS) for amplitude in _bucket_maxima(path, layout, buckets, center)
    ]


def _header(path: Path) -> bytes:
    try:
        with path.open("rb") as raw:
            return raw.read(12)
    except OSError as exc:
        raise MediaError(f"cannot read {path.name}: {exc.strerror or exc}") from None


def _scale(sample_width: int) -> tuple[int, int]:
    """The silent value and the largest distance from it, as the decoded samples express them."""
    if sample_width == 1:
        return 128, 128
    if sample_width == 2:
        return 0, 1 << 15
    return 0, 1 << 31


def _bucket_maxima(path: Path, layout: WavLayout, buckets: int, center: int) -> list[int]:
    frames, channels = layout.frames, layout.channels
    count = min(buckets, frames)
    block_frames = max(1, BLOCK_BYTES // layout.frame_size)
    maxima: list[int] = []
    current = 0
    bucket_end = frames // count
    position = 0
    with path.open("rb") as raw:
        raw.seek(layout.data_offset)
        while position < frames:
            wanted = min(block_frames, frames - position)
            data = raw.read(wanted * layout.frame_size)
            got = len(data) // layout.frame_size
            if got == 0:
                break
            samples = _decode(data[: got * layout.frame_size], layout.sample_width)
            start = 0
            while start < got:
                stop = min(got, bucket_end - position)
                chunk = samples[start * channels : stop * channels]
                current = max(current, max(chunk) - center, center - min(chunk))
                start = stop
                if position + start == bucket_end:
                    maxima.append(current)
                    current = 0
                    bucket_end = (len(maxima) + 1) * frames // count
            position += got
    if position < frames and len(maxima) < count:
        maxima.append(current)
    return maxima + [0] * (count - len(maxima))


def _decode(data: bytes, sample_width: int) -> Sequence[int]:
    """Little-endian PCM as integers; 24-bit samples are widened to 32 bits (shifted left by 8)."""
    if sample_width == 1:
        return memoryview(data)
    buffer: bytes | bytearray = data
    if sample_width == 3:
        buffer = bytearray(len(data) // 3 * 4)
        buffer[1::4] = data[0::3]
        buffer[2::4] = data[1::3]
        buffer[3::4] = data[2::3]
    samples = array("h" if sample_width == 2 else "i")
    samples.frombytes(buffer)
    if sys.byteorder == "big":
        samples.byteswap()
    return samples
