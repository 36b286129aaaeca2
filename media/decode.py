"""Streamed decoding for speech recognition: any upload → consecutive chunks of 16 kHz mono float32 PCM.

Memory is bounded by one chunk (plus FFmpeg's few decoded frames), never by the file: a 3-hour recording passes
through in `chunk_seconds` pieces. Channels are averaged after resampling rather than mixed by FFmpeg's default
stereo→mono matrix, which adds the channels at -3 dB each and so overshoots full scale on correlated stereo.
Damaged and truncated files: see `media.source` (a truncated file raises `MediaError` after its last chunk).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
from numpy.typing import NDArray

from media.source import MediaError, audio_frames, audio_stream, declared_seconds, open_media

__all__ = ["MediaError", "duration_seconds", "pcm_chunks"]


def pcm_chunks(path: Path, *, sample_rate: int = 16000, chunk_seconds: float = 30.0) -> Iterator[NDArray[np.float32]]:
    """1-D float32 arrays in [-1, 1], each `chunk_seconds` long except the last, covering the whole audio in order.

    Raises `MediaError` for a file without audio or one that cannot be decoded (before the first chunk), and for a
    truncated one (after the last chunk it could decode).
    """
    if sample_rate < 1:
        raise ValueError(f"sample_rate must be positive, not {sample_rate}")
    size = round(sample_rate * chunk_seconds)
    if size < 1:
        raise ValueError(f"chunk_seconds must hold at least one sample, not {chunk_seconds}")
    with open_media(path) as container:
        stream = audio_stream(container)
        if stream is None:
            raise MediaError(path.name, "it has no audio stream to transcribe")
        buffer = np.empty(size, dtype=np.float32)
        filled = 0
        failure: MediaError | None = None
        try:
            for mono in _resampled(container, stream, path.name, sample_rate):
                start = 0
                while start < len(mono):
                    taken = min(size - filled, len(mono) - start)
                    buffer[filled : filled + taken] = mono[start : start + taken]
                    filled += taken
                    start += taken
                    if filled == size:
                        yield buffer.copy()
                        filled = 0
        except MediaError as exc:
            failure = exc  # truncated: hand over all that decoded first, then say so
        if filled:
            yield buffer[:filled].copy()
        if failure is not None:
            raise failure


def duration_seconds(path: Path) -> float | None:
    """The audio's duration as the headers declare it (no decoding); None when they do not say or there is no audio.

    Raises `MediaError` for a file that cannot be opened."""
    with open_media(path) as container:
        stream = audio_stream(container)
        if stream is None:
            return None
        return declared_seconds(container, stream)


def _resampled(
    container: av.container.InputContainer, stream: av.AudioStream, name: str, sample_rate: int
) -> Iterator[NDArray[np.float32]]:
    """Mono float32 pieces at `sample_rate`; a resampler per channel layout (a stream may switch mid-way)."""
    resampler: av.AudioResampler | None = None
    layout = ""
    failure: MediaError | None = None
    try:
        for frame in audio_frames(container, stream, name):
            if resampler is None or frame.layout.name != layout:
                if resampler is not None:
                    yield from _mixed(resampler.resample(None))
                layout = frame.layout.name
                resampler = av.AudioResampler(format="fltp", layout=frame.layout, rate=sample_rate)
            frame.pts = None  # positions come from counting samples; gaps in pts must not make FFmpeg pad or drop
            yield from _mixed(resampler.resample(frame))
    except MediaError as exc:
        failure = exc  # the resampler's last samples belong to what was decoded: flush them first
    if resampler is not None:
        yield from _mixed(resampler.resample(None))
    if failure is not None:
        raise failure


def _mixed(frames: list[av.AudioFrame]) -> Iterator[NDArray[np.float32]]:
    for frame in frames:
        planes = frame.to_ndarray()
        mono = planes[0] if planes.shape[0] == 1 else planes.mean(axis=0, dtype=np.float32)
        yield np.clip(mono, -1.0, 1.0, out=mono if planes.shape[0] > 1 else None).astype(np.float32, copy=False)
