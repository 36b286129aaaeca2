"""Technical metadata of an uploaded media file, shaped like the metadata columns of `media_files`.

Every container and codec FFmpeg reads (through PyAV's bundled libraries): WAV of any encoding including
WAVE_FORMAT_EXTENSIBLE, mp3, m4a/aac, ogg/opus, flac, webm, mp4/mov/mkv. Probing reads the headers and decodes the
first audio (or video) frame, so a file FFmpeg merely guesses a format for (random bytes named `.mp3`) fails here
rather than later; truncation past the first frame is found by the full decode (waveform, transcription).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.container
import av.error

from media.source import MediaError, audio_stream, declared_seconds, main_video, open_media

__all__ = ["MediaError", "MediaInfo", "probe"]

FIRST_FRAME_PACKETS = 200  # a real stream yields a frame long before this many packets
_MAKE_TAGS = ("com.apple.quicktime.make", "make", "com.android.manufacturer", "manufacturer")
_MODEL_TAGS = ("com.apple.quicktime.model", "model", "com.android.model")
_CREATION_TAGS = ("creation_time", "com.apple.quicktime.creationdate", "date")


@dataclass(frozen=True)
class MediaInfo:
    """Field names equal the `media_files` columns, so `dataclasses.asdict` gives the values to store."""

    duration: float | None = None
    media_format: str | None = None
    codec: str | None = None
    frame_rate: float | None = None
    frame_count: int | None = None
    resolution_width: int | None = None
    resolution_height: int | None = None
    aspect_ratio: str | None = None
    audio_channels: int | None = None
    audio_sample_rate: int | None = None
    audio_bit_depth: int | None = None
    creation_date: datetime | None = None
    last_modified_date: datetime | None = None
    device_make: str | None = None
    device_model: str | None = None
    metadata_raw: dict[str, Any] = field(default_factory=dict)
    metadata_important: dict[str, Any] = field(default_factory=dict)


def probe(path: Path, content_type: str | None = None) -> MediaInfo:
    """Read the technical metadata of `path`; raises `MediaError` for what cannot be read."""
    with open_media(path) as container:
        audio = audio_stream(container)
        video = main_video(container)
        _first_frame(container, audio or video, path.name)
        info = _info(path, container, audio, video, content_type)
    if info.duration is None and audio is not None and video is None:
        seconds = _demuxed_seconds(path)
        if seconds is not None:
            info = _with_duration(info, seconds)
    return info


def _demuxed_seconds(path: Path) -> float | None:
    """The audio's length from its packets' times, for a file whose headers state none: a browser's recording
    (MediaRecorder writes WebM as it goes, so it never knows its length). Demuxing reads the packets' headers
    without decoding them; None when they carry no times either."""
    with open_media(path) as container:
        stream = audio_stream(container)
        if stream is None or not stream.time_base:
            return None
        end = None
        try:
            for packet in container.demux(stream):
                if packet.pts is not None:
                    last = packet.pts + (packet.duration or 0)
                    end = last if end is None else max(end, last)
        except av.error.FFmpegError:
            pass  # a damaged tail: the full decode (waveform, transcription) says so
        start = stream.start_time or 0
        return float((end - start) * stream.time_base) if end is not None and end > start else None


def _with_duration(info: MediaInfo, seconds: float) -> MediaInfo:
    important = {**info.metadata_important, "duration": round(seconds, 3)}
    raw = {**info.metadata_raw, "format": {**info.metadata_raw.get("format", {}), "duration": seconds}}
    return replace(info, duration=seconds, metadata_important=important, metadata_raw=raw)


def _first_frame(container: av.container.InputContainer, stream: av.stream.Stream | None, name: str) -> None:
    """Decode until the first frame of the main stream, proving the data is what the headers claim."""
    if stream is None:
        return
    try:
        for count, packet in enumerate(container.demux(stream)):
            if _decodes(packet):
                return
            if count >= FIRST_FRAME_PACKETS:
                break
    except av.error.FFmpegError:
        pass
    raise MediaError(name, f"its {stream.type} stream ({_codec_name(stream)}) holds no decodable data")


def _decodes(packet: av.Packet[av.stream.Stream]) -> bool:
    try:
        return bool(packet.decode())
    except av.error.FFmpegError:
        return False


def _info(
    path: Path,
    container: av.container.InputContainer,
    audio: av.AudioStream | None,
    video: av.VideoStream | None,
    content_type: str | None,
) -> MediaInfo:
    tags = _tags(container.metadata, *(s.metadata for s in (video, audio) if s is not None))
    duration = container.duration / av.time_base if container.duration else declared_seconds(container, audio)
    width = video.codec_context.width or None if video else None
    height = video.codec_context.height or None if video else None
    rate = video.average_rate or video.guessed_rate if video else None
    main = video or audio
    codec = _codec_name(main) if main is not None else None
    audio_channels = audio.codec_context.channels or None if audio else None
    sample_rate = audio.codec_context.sample_rate or None if audio else None
    info = dict(
        duration=duration,
        media_format=container.format.name,
        codec=codec,
        frame_rate=round(float(rate), 3) if rate else None,
        frame_count=(video.frames or None) if video else None,
        resolution_width=width,
        resolution_height=height,
        aspect_ratio=_aspect_ratio(video, width, height) if video else None,
        audio_channels=audio_channels,
        audio_sample_rate=sample_rate,
        audio_bit_depth=_bit_depth(audio) if audio else None,
        creation_date=_first_date(tags, _CREATION_TAGS),
        last_modified_date=_first_date(tags, ("modification_date", "com.apple.quicktime.modificationdate")),
        device_make=_first_text(tags, _MAKE_TAGS),
        device_model=_first_text(tags, _MODEL_TAGS),
    )
    file_size = path.stat().st_size
    raw = {
        "format": {
            "format_name": container.format.name,
            "format_long_name": container.format.long_name,
            "duration": duration,
            "size": file_size,
            "bit_rate": container.bit_rate or None,
            "tags": dict(container.metadata),
        },
        "streams": [_stream_report(s) for s in container.streams],
    }
    important = {
        "mime_type": content_type,
        "file_size": file_size,
        "duration": round(duration, 3) if duration is not None else None,
        "media_format": container.format.name,
        "codec": codec,
        "audio_codec": _codec_name(audio) if audio else None,
        "bit_rate": container.bit_rate or None,
        "resolution": f"{width}x{height}" if width and height else None,
        "frame_rate": info["frame_rate"],
        "audio_channels": audio_channels,
        "audio_sample_rate": sample_rate,
        "audio_bit_depth": info["audio_bit_depth"],
        "device": " ".join(str(p) for p in (info["device_make"], info["device_model"]) if p) or None,
        "creation_date": info["creation_date"].isoformat() if isinstance(info["creation_date"], datetime) else None,
    }
    return MediaInfo(
        **info,  # type: ignore[arg-type]
        metadata_raw=raw,
        metadata_important={k: v for k, v in important.items() if v is not None},
    )


def _codec_name(stream: av.stream.Stream) -> str:
    """The codec's canonical name ("mp3", "h264"), not the decoder's ("mp3float"); "unknown" without a decoder."""
    context = stream.codec_context
    return str(context.codec.canonical_name) if context is not None else "unknown"


def _bit_depth(audio: av.AudioStream) -> int | None:
    """Bits per sample for lossless audio (PCM from its codec name, FLAC from STREAMINFO); None for lossy codecs."""
    name = _codec_name(audio)
    if name.startswith("pcm_"):
        digits = "".join(c for c in name.split("_")[1] if c.isdigit())
        return int(digits) if digits else None
    extradata = audio.codec_context.extradata
    if name == "flac" and extradata is not None and len(extradata) >= 13:
        # STREAMINFO: 5 bits of (bits per sample - 1) straddle bytes 12 and 13.
        return (((extradata[12] & 0x01) << 4) | (extradata[13] >> 4)) + 1
    return None


def _stream_report(stream: av.stream.Stream) -> dict[str, Any]:
    report: dict[str, Any] = {
        "index": stream.index,
        "codec_type": stream.type,
        "codec_name": _codec_name(stream),
        "duration": float(stream.duration * stream.time_base) if stream.duration and stream.time_base else None,
        "tags": dict(stream.metadata),
    }
    if isinstance(stream, av.AudioStream):
        sound = stream.codec_context
        report |= {"sample_rate": sound.sample_rate, "channels": sound.channels, "layout": sound.layout.name}
    elif isinstance(stream, av.VideoStream):
        context = stream.codec_context
        rate = stream.average_rate or stream.guessed_rate
        report |= {
            "width": context.width,
            "height": context.height,
            "frame_rate": float(rate) if rate else None,
            "frames": stream.frames or None,
            "attached_pic": bool(stream.disposition & av.stream.Disposition.attached_pic),
        }
    return {k: v for k, v in report.items() if v is not None}


def _tags(*sources: dict[str, str]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for source in sources:
        for key, value in source.items():
            if isinstance(value, str) and value.strip():
                merged.setdefault(str(key).lower(), value.strip())
    return merged


def _aspect_ratio(video: av.VideoStream, width: int | None, height: int | None) -> str | None:
    """The display aspect ratio: pixel dimensions times the sample (pixel) aspect ratio, reduced."""
    if not width or not height:
        return None
    sar = video.sample_aspect_ratio or video.codec_context.sample_aspect_ratio or Fraction(1)
    shown = Fraction(width * sar.numerator, height * sar.denominator) if sar else Fraction(width, height)
    return f"{shown.numerator}:{shown.denominator}"


def _first_text(tags: dict[str, str], keys: tuple[str, ...]) -> str | None:
    return next((tags[k] for k in keys if k in tags), None)


def _first_date(tags: dict[str, str], keys: tuple[str, ...]) -> datetime | None:
    for key in keys:
        if key in tags:
            try:
                moment = datetime.fromisoformat(tags[key])
            except ValueError:
                continue
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None
