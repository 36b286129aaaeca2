"""Pages of sites yt-dlp knows (YouTube, Vimeo, podcasts…): resolved to one direct media URL, never downloaded here.

yt-dlp only extracts: it reads the page and names the formats. The chosen format's URL is then fetched by
workers/url_fetch.py like any other, so the SSRF guard, the size limit and the progress apply to the media itself.
yt-dlp's generic extractor (any page with an embedded video) is left out: it would follow whatever URL a page
names, without the guard; only a URL some site-specific extractor claims goes to yt-dlp. Only formats served over
plain http(s) qualify (no HLS/DASH fragments, no merging of separate streams): an audio-only format is preferred,
since transcription needs only the sound.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any

from storage.names import clean_filename
from workers.url_fetch import DownloadError

DIRECT_PROTOCOLS = ("http", "https")


@dataclass(frozen=True)
class MediaSource:
    url: str
    headers: dict[str, str]
    filename: str
    title: str | None


def available() -> bool:
    return importlib.util.find_spec("yt_dlp") is not None


def claims(url: str) -> bool:
    """Whether a site-specific yt-dlp extractor handles this URL (False without yt-dlp)."""
    if not available():
        return False
    from yt_dlp.extractor import gen_extractor_classes

    return any(ie.ie_key() != "Generic" and ie.suitable(url) for ie in gen_extractor_classes())


def resolve(url: str, timeout_seconds: float = 30.0) -> MediaSource:
    """The direct media URL of a page yt-dlp claims; DownloadError when it cannot be had."""
    from yt_dlp import YoutubeDL
    from yt_dlp.utils import DownloadError as YtDlpError

    options = {
        "quiet": True,
        "no_warnings": True,
        "noplaylist": True,
        "skip_download": True,
        "socket_timeout": timeout_seconds,
        "allowed_extractors": ["default", "-generic"],
    }
    try:
        with YoutubeDL(options) as ydl:
            info = ydl.extract_info(url, download=False)
    except YtDlpError as exc:
        raise DownloadError(f"yt-dlp could not read {url}: {exc}") from None
    return pick_format(info)


def pick_format(info: dict[str, Any]) -> MediaSource:
    """The best audio-only http(s) format, else the best http(s) format with audio; DownloadError if none."""
    formats = [f for f in info.get("formats") or [info] if f.get("url") and f.get("protocol") in DIRECT_PROTOCOLS]
    with_audio = [f for f in formats if f.get("acodec") not in ("none", None) or f.get("vcodec") in ("none", None)]
    audio_only = [f for f in with_audio if f.get("vcodec") == "none"]
    candidates = audio_only or with_audio
    if not candidates:
        raise DownloadError("this page offers no format that can be downloaded directly (only streamed fragments)")
    best = max(candidates, key=lambda f: (f.get("abr") or 0, f.get("tbr") or 0, f.get("filesize") or 0))
    title = info.get("title")
    extension = best.get("ext") or "media"
    name = clean_filename(f"{title or info.get('id') or 'download'}.{extension}", default="download")
    return MediaSource(str(best["url"]), dict(best.get("http_headers") or {}), name, title)
