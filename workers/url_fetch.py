"""Fetching media from a URL into a file: guarded on every hop, bounded in size, hashed on the way.

Redirects are followed by hand so that each hop's host goes through the SSRF guard (outbound/addresses.py) before
any connection; after connecting, the address actually connected to is checked again before the answer is read,
which catches a name that resolved differently for the check and for the connection (DNS rebinding). A page of a
site yt-dlp knows is resolved to its media URL by yt-dlp (workers/ytdlp.py) and that URL is fetched here, so the
guard, the size limit and the progress apply to it as to any other.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import httpx

from outbound.addresses import Allowance, BlockedUrl, check_address, check_url
from storage.names import clean_filename, is_media

MAX_REDIRECTS = 5
CHUNK_BYTES = 16 * 1024
USER_AGENT = "opentr (media import)"
Progress = Callable[[int, int | None], None]


class DownloadError(Exception):
    """The download failed in a way to tell the user (the message says what happened, never a traceback)."""


@dataclass(frozen=True)
class Fetched:
    filename: str
    content_type: str
    size: int
    sha256: str


def fetch(
    url: str,
    target: Path,
    *,
    max_bytes: int,
    allowance: Allowance,
    on_progress: Progress,
    headers: dict[str, str] | None = None,
    filename: str | None = None,
    timeout_seconds: float = 30.0,
) -> Fetched:
    """Download `url` into `target` (created or truncated); raises DownloadError or BlockedUrl."""
    current = url
    timeout = httpx.Timeout(timeout_seconds, connect=10.0)
    with httpx.Client(follow_redirects=False, timeout=timeout, headers={"User-Agent": USER_AGENT}) as client:
        for _ in range(MAX_REDIRECTS + 1):
            check_url(current, allowance)
            try:
                with client.stream("GET", current, headers=headers) as response:
                    _check_peer(response, allowance)
                    if response.is_redirect and "location" in response.headers:
                        current = urljoin(current, response.headers["location"])
                        continue
                    if response.status_code >= 400:
                        reason = response.reason_phrase or "error"
                        raise DownloadError(f"the server answered {response.status_code} {reason} for {current}")
                    name = filename or _filename(response, current)
                    return _save(response, target, name, max_bytes, on_progress)
            except httpx.HTTPError as exc:
                raise DownloadError(f"the download from {urlsplit(current).hostname} failed: {exc}") from None
    raise DownloadError(f"more than {MAX_REDIRECTS} redirects from {url}")


def _check_peer(response: httpx.Response, allowance: Allowance) -> None:
    if allowance.everything:
        return
    stream = response.extensions.get("network_stream")
    peer = stream.get_extra_info("server_addr") if stream is not None else None
    if peer is None:  # no socket to ask (never the case over TCP): refuse rather than trust the earlier lookup
        raise BlockedUrl(f"could not tell which address {response.url.host} connected to")
    check_address(str(peer[0]), allowance, response.url.host)


def _filename(response: httpx.Response, url: str) -> str:
    disposition = response.headers.get("content-disposition", "")
    match = re.search(r"filename\*?=(?:UTF-8'')?\"?([^\";]+)\"?", disposition, re.IGNORECASE)
    raw = unquote(match.group(1)) if match else unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    return clean_filename(raw, default="download")


def _save(response: httpx.Response, target: Path, filename: str, max_bytes: int, on_progress: Progress) -> Fetched:
    content_type = response.headers.get("content-type", "application/octet-stream").split(";")[0].strip().lower()
    if not is_media(filename, content_type):
        raise DownloadError(f"{filename}: {content_type or 'this type'} is not an audio or video file")
    declared = response.headers.get("content-length", "")
    total = int(declared) if declared.isdigit() else None
    limit_mb = max_bytes // (1024 * 1024)
    if total is not None and total > max_bytes:
        raise DownloadError(f"{filename} is larger than the {limit_mb} MB limit ({total} bytes)")
    digest, size = hashlib.sha256(), 0
    on_progress(0, total)
    with target.open("wb") as out:
        for chunk in response.iter_bytes(CHUNK_BYTES):
            size += len(chunk)
            if size > max_bytes:  # a server may send more than it declared, or declare nothing
                raise DownloadError(f"{filename} is larger than the {limit_mb} MB limit")
            out.write(chunk)
            digest.update(chunk)
            on_progress(size, total)
    if size == 0:
        raise DownloadError(f"{filename}: the server sent an empty file")
    return Fetched(filename, content_type or "application/octet-stream", size, digest.hexdigest())
