"""Waveform peaks for the player: the loudest sample of each time bucket, 0 (silence) to 1 (full scale).

Every format FFmpeg decodes. The file is streamed; peaks are first kept at a fine resolution (a fixed number of
samples per cell) and cells are merged pairwise whenever there are more than `MAX_CELLS`, so memory stays bounded
whatever the length and the duration need not be known in advance. The buckets are then cut from the cells, each
covering an equal share of the samples (to within a cell).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from media.source import MediaError, audio_frames, audio_stream, declared_seconds, open_media

__all__ = ["MediaError", "peaks"]

DECIMALS = 4
MAX_CELLS = 1 << 16


def peaks(path: Path, buckets: int = 1000) -> list[float]:
    """Peak amplitude per bucket (the maximum over channels), rounded to 4 decimals.

    Gives `min(buckets, samples)` values, so every bucket covers at least one sample; [] for a file without audio
    (a silent video). Raises `MediaError` for a file that cannot be read or is truncated.
    """
    if buckets < 1:
        raise ValueError(f"buckets must be at least 1, not {buckets}")
    with open_media(path) as container:
        stream = audio_stream(container)
        if stream is None:
            return []
        declared = declared_seconds(container, stream) or 0.0
        expected = declared * (stream.codec_context.sample_rate or 0)
        cells = _Cells(max(1, int(expected // (buckets * 16))))
        for frame in audio_frames(container, stream, path.name):
            cells.add(_frame_peaks(frame.to_ndarray(), frame.format.name, frame.format.is_planar, frame.samples))
    return cells.buckets(buckets)


def _frame_peaks(data: NDArray[np.generic], sample_format: str, planar: bool, samples: int) -> NDArray[np.float32]:
    """|sample| per time step as a share of full scale, the maximum over channels."""
    if not planar:
        data = data.reshape(samples, -1).T
    data = data[:, :samples]
    if sample_format.startswith("u8"):
        levels = np.abs(data.astype(np.float32) - 128.0) / 128.0
    elif sample_format.startswith(("flt", "dbl")):
        levels = np.abs(data.astype(np.float32))
    else:
        bits = data.dtype.itemsize * 8
        levels = np.abs(data.astype(np.float64)) / float(1 << (bits - 1))
    peak: NDArray[np.float32] = np.minimum(levels.max(axis=0), 1.0).astype(np.float32)
    return peak


class _Cells:
    """Running maxima over runs of `width` samples; halves its resolution when it grows past MAX_CELLS."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.done: list[NDArray[np.float32]] = []
        self.count = 0
        self.partial = np.zeros(0, dtype=np.float32)  # samples of a cell not yet complete
        self.samples = 0

    def add(self, levels: NDArray[np.float32]) -> None:
        self.samples += len(levels)
        joined = np.concatenate((self.partial, levels)) if len(self.partial) else levels
        whole = len(joined) // self.width * self.width
        if whole:
            self.done.append(joined[:whole].reshape(-1, self.width).max(axis=1))
            self.count += whole // self.width
        self.partial = joined[whole:].copy()
        if self.count > MAX_CELLS:
            self._halve()

    def _halve(self) -> None:
        cells = np.concatenate(self.done)
        if len(cells) % 2:
            self.partial = np.concatenate((np.full(self.width, cells[-1], dtype=np.float32), self.partial))
            cells = cells[:-1]
        self.done = [cells.reshape(-1, 2).max(axis=1)]
        self.count = len(self.done[0])
        self.width *= 2

    def buckets(self, buckets: int) -> list[float]:
        if self.samples == 0:
            return []
        cells = list(self.done)
        if len(self.partial):
            cells.append(np.array([self.partial.max()], dtype=np.float32))
        levels = np.concatenate(cells)
        count = min(buckets, self.samples)
        # Bucket i covers samples [i*N/count, (i+1)*N/count); in cells that is the same share of the cell list.
        edges = (np.arange(count + 1) * len(levels)) // count
        spans = itertools.pairwise(edges)
        return [round(float(levels[start : max(stop, start + 1)].max()), DECIMALS) for start, stop in spans]
