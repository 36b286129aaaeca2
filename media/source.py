"""Opening media with PyAV and reading its audio, with every failure turned into a `MediaError` a person can read.

Partly decodable files (decided here, once, for metadata, waveform and transcription alike):
- a packet the decoder rejects in the middle of a stream is skipped, as a player would (FFmpeg conceals the gap),
  unless more than `MAX_DAMAGED_PACKETS` are, which means the stream is garbage rather than scratched;
- a stream whose decoded audio ends clearly before the length its header declares (mp3 Xing/LAME header, FLAC
  STREAMINFO, the duration of an audio-only Matroska/WebM, an MP4 track's own length) is *truncated*: the reader
  raises `MediaError` once it reaches the end, so a transcript that silently stops half-way is never presented as
  complete. Re-exporting the file (or uploading the complete one) fixes it, and the message says by how much it fell
  short.
- formats whose length is only known from the data itself (PCM WAV, Ogg), and the sound track of a Matroska/WebM
  video (only the whole file's length is stated, and sound may stop before the picture), cannot be told apart from a
  shorter recording: a cut-off WAV is what a crashed recorder leaves, and it is read as the audio it holds.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import av
import av.container
import av.error

MAX_DAMAGED_PACKETS = 50
TRUNCATION_TOLERANCE_SECONDS = 0.5
TRUNCATION_TOLERANCE_SHARE = 0.02


class MediaError(Exception):
    """The media cannot be read: missing, empty, not audio/video, corrupt or truncated.

    `name` is the file name the message shows; `renamed` gives the same error naming what the user uploaded (stored
    files have random names)."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"could not read {name}: {reason}")
        self.name = name
        self.reason = reason

    def renamed(self, name: str) -> MediaError:
        return MediaError(name, self.reason)

    def __reduce__(self) -> tuple[type[MediaError], tuple[str, str]]:  # pickles (e.g. into a job result) intact
        return MediaError, (self.name, self.reason)


@contextlib.contextmanager
def open_media(path: Path) -> Iterator[av.container.InputContainer]:
    """The opened container; raises `MediaError` for a file FFmpeg cannot open."""
    name = path.name
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise MediaError(name, "the file does not exist") from None
    except OSError as exc:
        raise MediaError(name, exc.strerror or str(exc)) from None
    if size == 0:
        raise MediaError(name, "the file is empty")
    try:
        container = av.open(str(path.resolve()), "r")  # absolute: a "name:" prefix can never read as a protocol
    except av.error.InvalidDataError:
        raise MediaError(name, "not a recognised audio or video file (or a damaged one)") from None
    except av.error.EOFError:
        raise MediaError(name, "the file ends before its header does; it is truncated") from None
    except (av.error.FFmpegError, OSError) as exc:
        raise MediaError(name, f"FFmpeg cannot open it ({_reason(exc)})") from None
    with container:
        if not container.streams.audio and not container.streams.video:
            raise MediaError(name, "it contains no audio or video stream")
        if not container.streams.audio and container.format.name.endswith("_pipe"):  # FFmpeg's image demuxers
            raise MediaError(
                name, f"it is a still image ({container.format.name.removesuffix('_pipe')}), not audio or video"
            )
        yield container


def audio_stream(container: av.container.InputContainer) -> av.AudioStream | None:
    """The main audio stream (FFmpeg's choice of the best one), None for a file without audio."""
    if not container.streams.audio:
        return None
    best = container.streams.best("audio")
    return best if isinstance(best, av.AudioStream) else container.streams.audio[0]


def main_video(container: av.container.InputContainer) -> av.VideoStream | None:
    """The first video stream that is a picture sequence (not an audio file's cover art), None if there is none."""
    return next((s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic), None)


def declared_seconds(container: av.container.InputContainer, stream: av.AudioStream | None) -> float | None:
    """The duration the headers state: the stream's own, else the container's; None when neither says."""
    if stream is not None and stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return None


def audio_frames(container: av.container.InputContainer, stream: av.AudioStream, name: str) -> Iterator[av.AudioFrame]:
    """Every decoded frame of `stream`, one at a time; see the module doc for damaged and truncated files."""
    damaged = 0
    samples = 0
    rate = stream.codec_context.sample_rate or 0
    try:
        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except av.error.FFmpegError:
                damaged += 1
                if damaged > MAX_DAMAGED_PACKETS:
                    raise MediaError(name, f"more than {MAX_DAMAGED_PACKETS} damaged audio packets") from None
                continue
            for frame in frames:
                samples += frame.samples
                rate = frame.sample_rate or rate
                yield frame
    except av.error.FFmpegError as exc:  # the demuxer itself gave up, e.g. on a broken index
        where = f"{samples / max(rate, 1):.1f} s"
        raise MediaError(name, f"the audio cannot be read past {where} ({_reason(exc)})") from None
    if samples == 0:
        raise MediaError(name, "no audio could be decoded from it")
    declared = _audio_length(container, stream)
    decoded = samples / rate
    if declared is not None and declared - decoded > max(
        TRUNCATION_TOLERANCE_SECONDS, declared * TRUNCATION_TOLERANCE_SHARE
    ):
        shortfall = f"its header declares {declared:.1f} s of audio, only {decoded:.1f} s decode"
        raise MediaError(name, f"it is truncated or damaged: {shortfall}")


def _audio_length(container: av.container.InputContainer, stream: av.AudioStream) -> float | None:
    """What the audio should add up to. A video container's overall length (Matroska/WebM state no per-stream one)
    says nothing about its sound track, which may legitimately stop before the picture: no check then."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return None if main_video(container) is not None else declared_seconds(container, stream)


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text)
