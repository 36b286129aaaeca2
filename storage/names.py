"""What a stored media file is called for display, and whether a name and content type say it is audio or video.

Shared by uploads (web/uploads.py) and imports from a URL (workers/url_import.py): whatever a client or a remote
server calls a file only ever becomes its display name, never part of a path (storage/layout.py).
"""

from __future__ import annotations

import re

MEDIA_EXTENSIONS = frozenset(
    "wav mp3 m4a aac flac ogg oga opus wma aiff aif mp4 m4v mov mkv webm avi wmv mpeg mpg 3gp".split()  # noqa: SIM905
)


def clean_filename(raw: str, default: str = "upload") -> str:
    """The display name only: last path component, no control characters, at most 255 characters."""
    name = re.split(r"[\\/]", raw)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip().lstrip(".")
    return (name or default)[:255]


def is_media(filename: str, content_type: str) -> bool:
    if content_type.startswith(("audio/", "video/")):
        return True
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    return content_type in ("application/octet-stream", "") and extension in MEDIA_EXTENSIONS
