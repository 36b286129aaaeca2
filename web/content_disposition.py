"""The Content-Disposition header both ways: a multipart part's name and filename in, a download's name out.

In: browsers and curl put the file's name as raw UTF-8 bytes inside `filename="…"` (the HTML form encoding; RFC
7578 §4.2), percent-encoding only `"` (as %22), CR and LF. Some clients send the RFC 5987/2231 form
`filename*=UTF-8''%E4%BC%9A….wav` instead or as well; it wins when both are there. Header bytes are read as UTF-8,
and as Windows-1252 when they are not valid UTF-8 (an old client's local code page), so a name never turns into
replacement characters or an error. python-multipart's own option parser re-encodes the value as Latin-1, which is
what broke `会議の記録.wav` and `Müller.wav`: it is not used for part headers.

Out: every download carries an ASCII `filename="…"` for old clients and the exact name as `filename*=UTF-8''…`
(RFC 6266 §4.3: clients that understand `filename*` prefer it).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, unquote

from storage.names import extension_of, shorten

# A parameter: name, optional "*" (extended value), "=", then a quoted string (backslash escapes) or a token.
_PARAMETER = re.compile(r';\s*([^\s=;*]+(?:\*\d+)?)(\*?)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)', re.DOTALL)
_CONTINUATION = re.compile(r"^(.+)\*(\d+)$")  # RFC 2231 continuations: filename*0*=…; filename*1*=…
_UNSAFE_IN_FALLBACK = re.compile(r'[\x00-\x1f\x7f"\\%;]+')
# Characters no common file system takes in a name (Windows is the strictest): a title may hold any of them.
_UNSAFE_IN_NAME = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')
MAX_DOWNLOAD_NAME = 100  # characters of the title or name, before the extension


@dataclass(frozen=True)
class PartDisposition:
    name: str
    filename: str | None  # None: the part carries no filename (a text field, or a file sent without one)


def decode_header(raw: bytes) -> str:
    """A header value's text: UTF-8 as browsers send it, else Windows-1252 (never a replacement character)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", "replace")


def parse_part(value: str) -> PartDisposition:
    """`form-data; name="file"; filename="会議の記録.wav"` (or `filename*=UTF-8''…`) → its name and filename."""
    plain: dict[str, str] = {}
    extended: dict[str, str] = {}
    pieces: dict[str, dict[int, tuple[bool, str]]] = {}
    for key, star, raw in _PARAMETER.findall(value):
        key = key.lower()
        text = _unquote(raw.strip())
        continued = _CONTINUATION.match(key)
        if continued:
            pieces.setdefault(continued.group(1), {})[int(continued.group(2))] = (bool(star), text)
        elif star:
            extended.setdefault(key, _extended(text))
        else:
            plain.setdefault(key, text)
    for key, parts in pieces.items():
        extended.setdefault(key, _joined(parts))
    filename = extended.get("filename")
    if filename is None and "filename" in plain:
        # The HTML form encoding writes a `"` in a file's name as %22; nothing else is percent-encoded there.
        filename = plain["filename"].replace("%22", '"')
    return PartDisposition(extended.get("name", plain.get("name", "")), filename)


def _unquote(raw: str) -> str:
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        # Only \" and \\ are escapes: a Windows path's backslashes (C:\Users\…) must survive for the caller to cut.
        return raw[1:-1].replace("\\\\", "\\").replace('\\"', '"')
    return raw


def _extended(value: str) -> str:
    """RFC 5987 `charset'language'percent-encoded`; a value without that shape is taken as it is."""
    charset, quote_mark, rest = value.partition("'")
    if not quote_mark:
        return unquote(value, "utf-8", "replace")
    _, _, encoded = rest.partition("'")
    encoding = charset.strip().lower() or "utf-8"
    try:
        return unquote(encoded, "utf-8" if encoding in ("utf-8", "utf8") else encoding, "replace")
    except LookupError:  # a charset Python does not know: UTF-8 is what every real client means
        return unquote(encoded, "utf-8", "replace")


def _joined(parts: dict[int, tuple[bool, str]]) -> str:
    """RFC 2231 continuations in order; the first encoded piece names the charset for all of them."""
    ordered = [parts[index] for index in sorted(parts)]
    if not ordered[0][0]:
        return "".join(text for _, text in ordered)
    charset, _, rest = ordered[0][1].partition("'")
    _, _, first = rest.partition("'")
    encoded = first + "".join(text if star else quote(text) for star, text in ordered[1:])
    return _extended(f"{charset}''{encoded}")


def ascii_fallback(name: str, default_stem: str = "download") -> str:
    """The name as plain ASCII for `filename="…"`: accents dropped (Müller → Muller), other scripts gone, the
    extension kept; `download.wav` when nothing of the stem is left (会議の記録.wav)."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    folded = " ".join(_UNSAFE_IN_FALLBACK.sub("_", folded).split())
    stem, dot, extension = folded.rpartition(".")
    if not dot:
        stem, extension = folded, ""
    stem = stem.strip(" ._")
    if not stem or not any(ch.isalnum() for ch in stem):
        stem = default_stem
    return f"{stem}.{extension}" if extension else stem


def header(kind: Literal["attachment", "inline"], name: str, default_stem: str = "download") -> str:
    """`attachment; filename="Besprechung-Muller.wav"; filename*=UTF-8''Besprechung-M%C3%BCller.wav`."""
    fallback = ascii_fallback(name, default_stem)
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def download_name(title: str | None, filename: str, extension: str) -> str:
    """A download named after the file: its title, else its name without its extension; in any script, with
    what file systems refuse replaced by spaces, at most MAX_DOWNLOAD_NAME characters (whole graphemes)."""
    base = title or filename[: len(filename) - len(extension_of(filename))]
    cleaned = " ".join(_UNSAFE_IN_NAME.sub(" ", base).split()).strip(" .")
    cleaned = shorten(cleaned, MAX_DOWNLOAD_NAME).strip(" .")
    return f"{cleaned or 'transcript'}.{extension}"
