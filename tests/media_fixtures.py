"""Media files for the tests, encoded with PyAV: a few seconds of tone in every container people upload.

The signal is quiet for its first half and loud for its second, so a waveform can be checked for telling them apart.
Video has a moving gradient whose frame size sets the aspect ratio a thumbnail must keep.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from numpy.typing import NDArray

SECONDS = 3.0
QUIET, LOUD = 0.05, 0.8


@dataclass(frozen=True)
class Sample:
    """One encoded fixture and what its metadata must say."""

    name: str  # file name, extension included
    container: str  # the PyAV/FFmpeg muxer
    audio_codec: str  # the encoder
    codec_name: str  # what a decoder reports for the audio
    sample_rate: int
    channels: int
    sample_format: str
    video_codec: str | None = None
    video_codec_name: str | None = None
    size: tuple[int, int] = (0, 0)
    bit_depth: int | None = None

    @property
    def is_video(self) -> bool:
        return self.video_codec is not None


SAMPLES = [
    Sample("tone.wav", "wav", "pcm_s16le", "pcm_s16le", 16000, 1, "s16", bit_depth=16),
    # 24-bit stereo: FFmpeg's muxer writes WAVE_FORMAT_EXTENSIBLE for more than 16 bits, as field recorders do.
    Sample("field.wav", "wav", "pcm_s24le", "pcm_s24le", 48000, 2, "s32", bit_depth=24),
    Sample("talk.mp3", "mp3", "libmp3lame", "mp3", 44100, 2, "fltp"),
    Sample("voice.m4a", "ipod", "aac", "aac", 48000, 2, "fltp"),
    Sample("memo.ogg", "ogg", "libopus", "opus", 48000, 1, "s16"),
    Sample("music.flac", "flac", "flac", "flac", 44100, 2, "s16", bit_depth=16),
    Sample("call.webm", "webm", "libopus", "opus", 48000, 2, "s16", "libvpx", "vp8", (192, 108)),
    Sample("clip.mp4", "mp4", "aac", "aac", 44100, 2, "fltp", "libx264", "h264", (320, 180)),
    Sample("phone.mov", "mov", "aac", "aac", 48000, 1, "fltp", "mpeg4", "mpeg4", (160, 120)),
    Sample("lecture.mkv", "matroska", "libopus", "opus", 48000, 2, "s16", "libx264", "h264", (96, 128)),
]


BY_NAME = {sample.name: sample for sample in SAMPLES}
VIDEOS = [sample for sample in SAMPLES if sample.is_video]


@functools.cache
def _directory() -> Path:
    directory = Path(tempfile.mkdtemp(prefix="opentr-media-"))
    atexit.register(shutil.rmtree, directory, True)
    return directory


@functools.cache
def encoded(name: str) -> Path:
    """The fixture `name` (see SAMPLES), encoded once per test session; read it, never change it."""
    return encode(_directory() / name, BY_NAME[name])


def signal(rate: int, channels: int, seconds: float = SECONDS) -> NDArray[np.float32]:
    """(channels, samples): a 440 Hz tone at QUIET for the first half, at LOUD for the second."""
    t = np.arange(int(rate * seconds)) / rate
    level = np.where(t < seconds / 2, QUIET, LOUD)
    mono = (level * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    return np.tile(mono, (channels, 1))


def encode(path: Path, sample: Sample, seconds: float = SECONDS, audio_seconds: float | None = None) -> Path:
    """Write `seconds` of video (for video samples) and `audio_seconds` (default: as long) of the signal into `path`."""
    with av.open(str(path), "w", format=sample.container) as out:
        layout = "mono" if sample.channels == 1 else "stereo"
        audio = out.add_stream(sample.audio_codec, rate=sample.sample_rate, layout=layout)
        assert isinstance(audio, av.AudioStream)
        video: av.VideoStream | None = None
        if sample.video_codec is not None:
            added = out.add_stream(sample.video_codec, rate=10)
            assert isinstance(added, av.VideoStream)
            video = added
            video.width, video.height = sample.size
            video.pix_fmt = "yuv420p"
        samples = signal(sample.sample_rate, sample.channels, seconds if audio_seconds is None else audio_seconds)
        block, pts = 1024, 0
        for start in range(0, samples.shape[1], block):
            piece = samples[:, start : start + block]
            frame = _audio_frame(piece, sample.sample_format)
            frame.sample_rate, frame.pts, frame.time_base = sample.sample_rate, pts, Fraction(1, sample.sample_rate)
            pts += piece.shape[1]
            out.mux(audio.encode(frame))
        out.mux(audio.encode(None))
        if video is not None:
            width, height = sample.size
            for index in range(int(seconds * 10)):
                picture = np.zeros((height, width, 3), dtype=np.uint8)
                picture[..., 0] = (np.arange(width) * 255 // max(width - 1, 1)).astype(np.uint8)
                picture[..., 1] = (index * 20) % 256
                picture_frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
                picture_frame.pts = index
                out.mux(video.encode(picture_frame))
            out.mux(video.encode(None))
    return path


def _audio_frame(piece: NDArray[np.float32], sample_format: str) -> av.AudioFrame:
    layout = "mono" if piece.shape[0] == 1 else "stereo"
    if sample_format == "fltp":
        return av.AudioFrame.from_ndarray(np.ascontiguousarray(piece), format="fltp", layout=layout)
    if sample_format == "s16":
        packed = (piece.T.reshape(1, -1) * 32767).astype(np.int16)
        return av.AudioFrame.from_ndarray(packed, format="s16", layout=layout)
    packed32 = (piece.T.reshape(1, -1).astype(np.float64) * 2147483647).astype(np.int32)
    return av.AudioFrame.from_ndarray(packed32, format="s32", layout=layout)


def random_bytes(path: Path, size: int = 64 * 1024, seed: int = 12) -> Path:
    path.write_bytes(np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes())
    return path


def truncated(source: Path, target: Path, fraction: float = 0.5) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[: int(len(data) * fraction)])
    return target


def browser_recording(path: Path, seconds: float = 3.0, rate: int = 48_000) -> Path:
    """Opus in WebM written as a live stream, the way MediaRecorder writes it: no duration, no cues in its headers."""
    with av.open(str(path), "w", format="webm", options={"live": "1"}) as out:
        stream = out.add_stream("libopus", rate=rate)
        stream.layout = "mono"
        tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(int(seconds * rate)) / rate)).astype(np.float32)
        for start in range(0, len(tone), 960):  # 20 ms frames, as browsers send
            frame = av.AudioFrame.from_ndarray(tone[None, start : start + 960], format="flt", layout="mono")
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path
