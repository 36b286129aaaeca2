"""What a stored media file is called for display, and whether a declared type (or name) says it is audio or video.

Shared by uploads (web/uploads.py), imports from a URL (workers/url_import.py) and downloads (web/exports.py):
whatever a client or a remote server calls a file only ever becomes its display name, never part of a path
(storage/layout.py). A name keeps every script as it was typed: Japanese, Arabic (with its direction marks and
joiners), emoji with variation selectors and joiners. Only what cannot be part of a name shown on a page is taken
out: control characters, line breaks, and the bidirectional overrides that make `evil‮vaw.exe` read as
`evilexe.wav`. The name is NFC-normalised, so a name typed on a Mac (decomposed ü) matches one typed elsewhere.

A name longer than the column allows (255 characters) is shortened in its middle part, keeping the extension, and
never inside a grapheme (a letter with its accents, an emoji with its variation selector or skin tone, a flag).
"""

from __future__ import annotations

import re
import unicodedata

import regex

MEDIA_EXTENSIONS = frozenset(
    "wav mp3 m4a aac flac ogg oga opus wma aiff aif mp4 m4v mov mkv webm avi wmv mpeg mpg 3gp".split()  # noqa: SIM905
)
MAX_NAME = 255  # characters, as media_files.filename allows
MAX_EXTENSION = 16
_GRAPHEME = regex.compile(r"\X")
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_REMOVED_CATEGORIES = frozenset({"Cc", "Cs", "Co", "Cn", "Zl", "Zp"})


def _kept(ch: str) -> bool:
    """Format characters (Cf) stay, since joiners and direction marks are part of words; overrides do not."""
    return unicodedata.category(ch) not in _REMOVED_CATEGORIES and ch not in _BIDI_CONTROLS and ch != "\ufeff"


def clean_filename(raw: str, default: str = "upload", limit: int = MAX_NAME) -> str:
    """The display name only: last path component, NFC, no control characters, at most `limit` characters."""
    name = re.split(r"[\\/]", unicodedata.normalize("NFC", raw))[-1]
    name = "".join(ch for ch in name if _kept(ch)).strip().lstrip(".").strip()
    return shorten(name or default, limit)


def extension_of(name: str) -> str:
    """`.wav` for `talk.wav`; "" when there is none, or the part after the last dot is no extension (a sentence)."""
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem.strip() or not 0 < len(extension) <= MAX_EXTENSION:
        return ""
    if not (extension.isascii() and extension.isalnum()):  # "Protokoll.final版" has none
        return ""
    return f".{extension}"


def shorten(name: str, limit: int = MAX_NAME) -> str:
    """`name` when it fits; else its stem cut at a grapheme boundary, then its extension, `limit` characters at most."""
    if len(name) <= limit:
        return name
    extension = extension_of(name)
    if len(extension) >= limit:
        extension = ""
    stem = name[: len(name) - len(extension)]
    return _graphemes_within(stem, limit - len(extension)).rstrip(" .") + extension


def _graphemes_within(text: str, room: int) -> str:
    """As many whole graphemes from the start of `text` as fit in `room` characters (at least the first letter)."""
    kept, used = [], 0
    for match in _GRAPHEME.finditer(text):
        cluster = match.group()
        if used + len(cluster) > room:
            break
        kept.append(cluster)
        used += len(cluster)
    return "".join(kept) or text[:1]


def declares_media(content_type: str) -> bool:
    """Whether the declared type says audio or video; an upload of any other type is judged by its content
    (media/sniff.py)."""
    return content_type.startswith(("audio/", "video/"))


def is_media(filename: str, content_type: str) -> bool:
    """Before any byte arrived (a download from a URL): the declared type, or a neutral type and a media extension."""
    if declares_media(content_type):
        return True
    extension = extension_of(filename)[1:].lower()
    return content_type in ("application/octet-stream", "") and extension in MEDIA_EXTENSIONS
