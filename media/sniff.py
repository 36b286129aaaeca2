"""Is a received file audio or video, whatever its sender declared? Its first bytes, then FFmpeg, decide.

A client sending `application/octet-stream` (curl without `;type=`, many scripts, some browsers for .mkv or .opus)
is not refusing to say what it sends: the content says it. The first bytes name the container (RIFF/WAVE, ID3,
fLaC, OggS, ftyp, EBML…). A container that holds audio only (WAV, FLAC, AIFF, AMR…) is answered from its header
alone; one that may hold video or audio (MP4, Matroska/WebM, Ogg, ASF, AVI, MPEG) is opened with FFmpeg to tell
which, keeping the header's answer if FFmpeg cannot (the worker then reports what is wrong with the file). Bytes
no header names are accepted only when FFmpeg finds a stream and decodes its first frame (`media.probe`), so a text
file, a PDF or random bytes are refused at upload, with a reason, not an hour later in a worker.
"""

from __future__ import annotations

from pathlib import Path

from media.probe import probe
from media.source import MediaError

HEAD_BYTES = 64
# What FFmpeg calls a container (the first name of `format.name`) → the MIME subtype to store it as.
FORMAT_SUBTYPES = {
    "wav": "wav",
    "w64": "wav",
    "mp3": "mpeg",
    "aac": "aac",
    "flac": "flac",
    "ogg": "ogg",
    "aiff": "aiff",
    "amr": "amr",
    "caf": "x-caf",
    "au": "basic",
    "wv": "x-wavpack",
    "ape": "x-ape",
    "mov": "mp4",
    "matroska": "x-matroska",
    "webm": "webm",
    "asf": "x-ms-asf",
    "avi": "x-msvideo",
    "mpeg": "mpeg",
    "mpegts": "mp2t",
    "flv": "x-flv",
}
# A container type named after its video use, when FFmpeg found sound only.
AUDIO_SUBTYPES = {"quicktime": "mp4", "3gpp": "mp4", "x-ms-asf": "x-ms-wma"}


def from_header(head: bytes) -> tuple[str, bool] | None:
    """(content type, whether the container may hold video) named by the first bytes; None when none matches."""
    riff = head[8:12]
    if head[:4] in (b"RIFF", b"RF64", b"BW64") and riff == b"WAVE":
        return "audio/wav", False
    if head[:4] == b"RIFF" and riff == b"AVI ":
        return "video/x-msvideo", True
    if head[:4] == b"FORM" and riff in (b"AIFF", b"AIFC"):
        return "audio/aiff", False
    if head.startswith(b"fLaC"):
        return "audio/flac", False
    if head.startswith(b"ID3"):
        return "audio/mpeg", False
    if head.startswith(b"#!AMR"):
        return "audio/amr", False
    if head.startswith(b"caff"):
        return "audio/x-caf", False
    if head.startswith(b"wvpk"):
        return "audio/x-wavpack", False
    if head.startswith(b"OggS"):
        return "audio/ogg", True  # Theora video lives in Ogg too
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"M4A ", b"M4B ", b"M4P ", b"F4A "):
            return "audio/mp4", True
        if brand == b"qt  ":
            return "video/quicktime", True
        if brand.startswith(b"3g"):
            return "video/3gpp", True
        return "video/mp4", True
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip"):
        return "video/quicktime", True
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return ("video/webm" if b"webm" in head else "video/x-matroska"), True
    if head.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"):
        return "video/x-ms-asf", True
    if head.startswith((b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3")):
        return "video/mpeg", True
    if head.startswith(b"FLV\x01"):
        return "video/x-flv", True
    return None


def recognise(path: Path, head: bytes) -> str | None:
    """The content type `path` holds (`audio/…` or `video/…`), or None when it is neither audio nor video."""
    named = from_header(head[:HEAD_BYTES])
    if named is not None and not named[1]:
        return named[0]
    try:
        info = probe(path)
    except MediaError:
        return named[0] if named is not None else None
    kind = "video" if info.resolution_width else "audio"
    if named is not None:
        return _with_kind(named[0], kind)
    container = (info.media_format or "").split(",")[0]
    return f"{kind}/{FORMAT_SUBTYPES.get(container, 'x-' + container if container else 'octet-stream')}"


def _with_kind(content_type: str, kind: str) -> str:
    """The header's type with FFmpeg's verdict on video: an .m4a is audio/mp4, an Ogg with Theora video/ogg."""
    subtype = content_type.split("/", 1)[1]
    if kind == "audio":
        return f"audio/{AUDIO_SUBTYPES.get(subtype, subtype)}"
    return f"video/{subtype}"
