"""Technical metadata of an uploaded media file, shaped like the metadata columns of `media_files`.

PCM WAV files are read with the stdlib `wave` module; everything else goes through `ffprobe` when it is installed.
Failures are exceptions, never half-filled results:
- `MediaError`: the file cannot be read or is corrupt (the job marks the file as failed with the message);
- `ProbeUnavailable` (a `MediaError`): the file may be fine but this machine cannot analyse it (no ffprobe for a
  non-WAV file or a WAV encoding `wave` cannot decode); the job can catch it first, record the message in `tasks` and
  carry on without technical metadata.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import wave
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FFPROBE_TIMEOUT_SECONDS = 120
_WAV_CONTENT_TYPES = frozenset({"audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave"})
_WAVE_FORMAT_PCM, _WAVE_FORMAT_EXTENSIBLE = 0x0001, 0xFFFE
_FORMAT_NAMES = {1: "PCM", 2: "ADPCM", 3: "IEEE float", 6: "A-law", 7: "mu-law", 0x11: "IMA ADPCM", 0x55: "MP3"}
_PCM_CODECS = {1: "pcm_u8", 2: "pcm_s16le", 3: "pcm_s24le", 4: "pcm_s32le"}
_MAKE_TAGS = ("com.apple.quicktime.make", "make", "com.android.manufacturer", "manufacturer")
_MODEL_TAGS = ("com.apple.quicktime.model", "model", "com.android.model")
_CREATION_TAGS = ("creation_time", "com.apple.quicktime.creationdate", "date")


class MediaError(Exception):
    """The media file cannot be read: missing, corrupt, or rejected by ffprobe."""


class ProbeUnavailable(MediaError):
    """The file may be fine, but this machine cannot analyse it: ffprobe is missing for what `wave` cannot read."""


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


@dataclass(frozen=True)
class WavLayout:
    """Where the PCM samples of a WAV file are; `frames` counts only the frames the file really holds."""

    channels: int
    sample_rate: int
    sample_width: int
    frames: int
    declared_frames: int
    data_offset: int

    @property
    def frame_size(self) -> int:
        return self.channels * self.sample_width


def probe(path: Path, content_type: str | None = None) -> MediaInfo:
    """Read the technical metadata of `path`; raises `MediaError` or `ProbeUnavailable`."""
    header = _read_header(path)
    if header[:4] == b"RIFF" and header[8:12] == b"WAVE":
        try:
            return _probe_wav(path, content_type)
        except ProbeUnavailable as exc:
            if shutil.which("ffprobe") is None:
                raise ProbeUnavailable(
                    f"ffprobe is not installed; only PCM WAV files can be analysed ({exc})"
                ) from None
            return _probe_ffprobe(path, content_type)
    if _labelled_wav(path, content_type):
        raise MediaError(f"{path.name} is labelled as WAV but has no RIFF/WAVE header; the file is corrupt")
    return _probe_ffprobe(path, content_type)


def wav_layout(path: Path) -> WavLayout:
    """The sample layout of a PCM WAV file.

    Raises `ProbeUnavailable` for WAV encodings `wave` cannot decode here (float, compressed, and
    WAVE_FORMAT_EXTENSIBLE before Python 3.12) and `MediaError` for corrupt files. A data chunk cut short counts only
    the frames present.
    """
    encoding = _undecodable_encoding(path)
    if encoding is not None:
        raise ProbeUnavailable(f"{path.name} is a WAV file in {encoding}, not plain integer PCM")
    try:
        with path.open("rb") as raw, wave.open(raw, "rb") as reader:
            data_offset = raw.tell()
            file_size = os.fstat(raw.fileno()).st_size
            channels, width, rate = reader.getnchannels(), reader.getsampwidth(), reader.getframerate()
            declared = reader.getnframes()
    except wave.Error as exc:
        raise MediaError(f"{path.name} is not a readable WAV file: {exc}") from None
    except (EOFError, ValueError) as exc:
        raise MediaError(f"{path.name} is not a readable WAV file: the header is truncated ({exc})") from None
    except OSError as exc:
        raise MediaError(f"cannot read {path.name}: {exc.strerror or exc}") from None
    if rate <= 0:
        raise MediaError(f"{path.name} is not a readable WAV file: its sample rate is {rate}")
    if width not in _PCM_CODECS:
        raise MediaError(f"{path.name} uses {width * 8}-bit samples; only 8, 16, 24 and 32-bit PCM are supported")
    available = max(file_size - data_offset, 0) // (channels * width)
    return WavLayout(channels, rate, width, min(declared, available), declared, data_offset)


def _undecodable_encoding(path: Path) -> str | None:
    """The encoding named by the fmt chunk when `wave` cannot decode it; None for integer PCM or a broken header."""
    try:
        with path.open("rb") as raw:
            raw.seek(12)
            while len(header := raw.read(8)) == 8:
                size = int.from_bytes(header[4:], "little")
                if header[:4] == b"fmt ":
                    return _describe_undecodable(raw.read(min(size, 28)))
                raw.seek(size + size % 2, os.SEEK_CUR)
    except OSError:
        return None
    return None


def _describe_undecodable(fmt: bytes) -> str | None:
    tag = int.from_bytes(fmt[:2], "little") if len(fmt) >= 2 else _WAVE_FORMAT_PCM
    if tag == _WAVE_FORMAT_PCM:
        return None
    if tag != _WAVE_FORMAT_EXTENSIBLE:
        return f"format tag {tag} ({_FORMAT_NAMES.get(tag, 'unknown')})"
    sub_format = int.from_bytes(fmt[24:28], "little") if len(fmt) >= 28 else 0
    if sub_format != _WAVE_FORMAT_PCM:
        return f"WAVE_FORMAT_EXTENSIBLE with sub-format {sub_format} ({_FORMAT_NAMES.get(sub_format, 'unknown')})"
    if sys.version_info < (3, 12):
        return f"WAVE_FORMAT_EXTENSIBLE, unreadable on Python {sys.version_info.major}.{sys.version_info.minor}"
    return None


def _read_header(path: Path) -> bytes:
    try:
        with path.open("rb") as raw:
            return raw.read(12)
    except OSError as exc:
        raise MediaError(f"cannot read {path.name}: {exc.strerror or exc}") from None


def _labelled_wav(path: Path, content_type: str | None) -> bool:
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    return kind in _WAV_CONTENT_TYPES or path.suffix.lower() in {".wav", ".wave"}


def _probe_wav(path: Path, content_type: str | None) -> MediaInfo:
    layout = wav_layout(path)
    duration = layout.frames / layout.sample_rate
    codec = _PCM_CODECS[layout.sample_width]
    bit_depth = layout.sample_width * 8
    raw: dict[str, Any] = {
        "container": "wav",
        "codec": codec,
        "channels": layout.channels,
        "sample_rate": layout.sample_rate,
        "sample_width_bytes": layout.sample_width,
        "frames": layout.frames,
        "data_offset": layout.data_offset,
        "file_size": path.stat().st_size,
    }
    if layout.declared_frames > layout.frames:
        raw["warning"] = (
            f"data chunk truncated: the header declares {layout.declared_frames} frames, the file holds {layout.frames}"
        )
    important = {
        "mime_type": content_type or "audio/wav",
        "file_size": raw["file_size"],
        "duration": round(duration, 3),
        "codec": codec,
        "audio_channels": layout.channels,
        "audio_sample_rate": layout.sample_rate,
        "audio_bit_depth": bit_depth,
    }
    return MediaInfo(
        duration=duration,
        media_format="wav",
        codec=codec,
        audio_channels=layout.channels,
        audio_sample_rate=layout.sample_rate,
        audio_bit_depth=bit_depth,
        metadata_raw=raw,
        metadata_important=important,
    )


def _probe_ffprobe(path: Path, content_type: str | None) -> MediaInfo:
    executable = shutil.which("ffprobe")
    if executable is None:
        raise ProbeUnavailable("ffprobe is not installed; only WAV files can be analysed")
    target = f"file:{path}"
    command = [executable, "-v", "error", "-print_format", "json", "-show_format", "-show_streams", "-i", target]
    try:
        done = subprocess.run(command, capture_output=True, timeout=FFPROBE_TIMEOUT_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        raise MediaError(f"ffprobe did not finish reading {path.name} within {FFPROBE_TIMEOUT_SECONDS} s") from None
    except OSError as exc:
        raise ProbeUnavailable(f"ffprobe could not be started: {exc.strerror or exc}") from None
    if done.returncode != 0:
        reason = done.stderr.decode("utf-8", "replace").replace(target, path.name).strip().splitlines()
        detail = reason[-1] if reason else f"exit status {done.returncode}"
        raise MediaError(f"ffprobe cannot read {path.name}: {detail}")
    try:
        report = json.loads(done.stdout)
    except ValueError:
        raise MediaError(f"ffprobe gave an unreadable report for {path.name}") from None
    if not isinstance(report, dict):
        raise MediaError(f"ffprobe gave an unreadable report for {path.name}")
    return info_from_ffprobe(report, content_type)


def info_from_ffprobe(report: dict[str, Any], content_type: str | None = None) -> MediaInfo:
    """Turn the JSON of `ffprobe -show_format -show_streams` into a `MediaInfo`."""
    container = _mapping(report.get("format"))
    streams = [_mapping(s) for s in report.get("streams") or [] if isinstance(s, dict)]
    video = next((s for s in streams if s.get("codec_type") == "video" and not _is_cover_art(s)), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    tags = _tags(container, *(s for s in (video, audio) if s is not None))
    width = _positive_int(video.get("width")) if video else None
    height = _positive_int(video.get("height")) if video else None
    duration = _number(container.get("duration"))
    if duration is None:
        duration = next((d for s in (video, audio) if s and (d := _number(s.get("duration"))) is not None), None)
    main = video or audio or {}
    info = MediaInfo(
        duration=duration,
        media_format=_text(container.get("format_name")),
        codec=_text(main.get("codec_name")),
        frame_rate=(_rate(video.get("avg_frame_rate")) or _rate(video.get("r_frame_rate"))) if video else None,
        frame_count=_positive_int(video.get("nb_frames")) if video else None,
        resolution_width=width,
        resolution_height=height,
        aspect_ratio=_aspect_ratio(video, width, height) if video else None,
        audio_channels=_positive_int(audio.get("channels")) if audio else None,
        audio_sample_rate=_positive_int(audio.get("sample_rate")) if audio else None,
        audio_bit_depth=(_positive_int(audio.get("bits_per_raw_sample")) or _positive_int(audio.get("bits_per_sample")))
        if audio
        else None,
        creation_date=_first_date(tags, _CREATION_TAGS),
        last_modified_date=_first_date(tags, ("modification_date", "com.apple.quicktime.modificationdate")),
        device_make=_first_text(tags, _MAKE_TAGS),
        device_model=_first_text(tags, _MODEL_TAGS),
        metadata_raw=report,
    )
    important = {
        "mime_type": content_type,
        "file_size": _positive_int(container.get("size")),
        "duration": round(info.duration, 3) if info.duration is not None else None,
        "media_format": info.media_format,
        "codec": info.codec,
        "audio_codec": _text(audio.get("codec_name")) if audio else None,
        "bit_rate": _positive_int(container.get("bit_rate")),
        "resolution": f"{width}x{height}" if width and height else None,
        "frame_rate": info.frame_rate,
        "audio_channels": info.audio_channels,
        "audio_sample_rate": info.audio_sample_rate,
        "device": " ".join(p for p in (info.device_make, info.device_model) if p) or None,
        "creation_date": info.creation_date.isoformat() if info.creation_date else None,
    }
    return replace(info, metadata_important={k: v for k, v in important.items() if v is not None})


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _is_cover_art(stream: dict[str, Any]) -> bool:
    return bool(_mapping(stream.get("disposition")).get("attached_pic"))


def _tags(*sources: dict[str, Any]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for source in sources:
        for key, value in _mapping(source.get("tags")).items():
            if isinstance(value, str) and value.strip():
                merged.setdefault(str(key).lower(), value.strip())
    return merged


def _text(value: object) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else None


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _positive_int(value: object) -> int | None:
    number = _number(value)
    return int(number) if number is not None and number >= 1 else None


def _rate(value: object) -> float | None:
    if not isinstance(value, str) or "/" not in value:
        return _number(value) or None
    numerator, _, denominator = value.partition("/")
    top, bottom = _number(numerator), _number(denominator)
    return round(top / bottom, 3) if top and bottom else None


def _aspect_ratio(video: dict[str, Any], width: int | None, height: int | None) -> str | None:
    declared = _text(video.get("display_aspect_ratio"))
    if declared and not declared.startswith(("0:", "N/A")) and not declared.endswith(":0"):
        return declared
    if width and height:
        divisor = math.gcd(width, height)
        return f"{width // divisor}:{height // divisor}"
    return None


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
