"""Streaming multipart uploads straight into storage, hashing on the way; nothing whole in memory.

The stored name is random (`<owner id>/<uuid4 hex>`): no part of a client-supplied filename ever reaches a path.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from python_multipart import MultipartParser
from python_multipart.multipart import parse_options_header
from starlette.requests import Request

from storage.backend import Storage
from storage.names import clean_filename, is_media
from web.errors import ApiError, PayloadTooLarge, UnsupportedMediaType

SIDECAR_LIMIT = 64 * 1024 * 1024
FIELD_LIMIT = 64 * 1024
FILE_FIELDS = ("file", "transcript")


@dataclass
class StoredPart:
    path: Path
    filename: str
    content_type: str
    size: int = 0
    sha256: str = ""


@dataclass
class ReceivedUpload:
    media: StoredPart
    sidecar: StoredPart | None
    fields: dict[str, str] = field(default_factory=dict)

    def discard(self) -> None:
        for part in (self.media, self.sidecar):
            if part is not None:
                part.path.unlink(missing_ok=True)


class _Receiver:
    def __init__(self, directory: Path, max_media: int) -> None:
        self.directory, self.max_media = directory, max_media
        self.parts: dict[str, StoredPart] = {}
        self.fields: dict[str, str] = {}
        self.headers: dict[str, str] = {}
        self._header_name = b""
        self._header_value = b""
        self._name = ""
        self._file: IO[bytes] | None = None
        self._hash: Any = None
        self._text = bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self.headers[self._header_name.decode("latin-1").lower()] = self._header_value.decode("utf-8", "replace")
        self._header_name = self._header_value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.headers.get("content-disposition", ""))
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        # A file field is a file whether or not its part carries a filename (the document promises no more).
        filename = options.get(b"filename", self._name.encode())
        if self._name in FILE_FIELDS:
            if self._name in self.parts:
                raise ApiError(f"{self._name}: sent twice", self._name)
            content_type = self.headers.get("content-type", "application/octet-stream").split(";")[0].strip()
            part = StoredPart(
                self.directory / f"{uuid.uuid4().hex}.part",
                clean_filename(filename.decode("utf-8", "replace")),
                content_type.lower(),
            )
            self.parts[self._name] = part
            self._file = open(part.path, "wb")  # noqa: SIM115 - closed in on_part_end or discard
            self._hash = hashlib.sha256()
        self._text = bytearray()

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._file is None:
            self._text += chunk
            if len(self._text) > FIELD_LIMIT:
                raise PayloadTooLarge(f"{self._name}: field too large", self._name)
            return
        part = self.parts[self._name]
        part.size += len(chunk)
        limit = self.max_media if self._name == "file" else SIDECAR_LIMIT
        if part.size > limit:
            raise PayloadTooLarge(f"{self._name}: larger than {limit // (1024 * 1024)} MB", self._name)
        self._file.write(chunk)
        self._hash.update(chunk)

    def on_part_end(self) -> None:
        if self._file is not None:
            self._file.close()
            self.parts[self._name].sha256 = self._hash.hexdigest()
            self._file = None
        elif self._name:
            self.fields[self._name] = self._text.decode("utf-8", "replace")
        self.headers = {}
        self._name = ""

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def discard(self) -> None:
        self.close()
        for part in self.parts.values():
            part.path.unlink(missing_ok=True)


async def receive_upload(request: Request, directory: Path, max_media_bytes: int) -> ReceivedUpload:
    """Parse multipart/form-data: `file` (required media), `transcript` (optional sidecar), small text fields."""
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or b"boundary" not in options:
        raise ApiError("body: expected multipart/form-data with a file field", "file")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_media_bytes + SIDECAR_LIMIT:
        raise PayloadTooLarge(f"upload larger than {max_media_bytes // (1024 * 1024)} MB", "file")
    directory.mkdir(parents=True, exist_ok=True)
    receiver = _Receiver(directory, max_media_bytes)
    callbacks: Any = {
        name: getattr(receiver, name)
        for name in (
            "on_header_field",
            "on_header_value",
            "on_header_end",
            "on_headers_finished",
            "on_part_data",
            "on_part_end",
        )
    }
    parser = MultipartParser(options[b"boundary"], callbacks)
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except Exception as exc:
        receiver.discard()
        if isinstance(exc, ApiError):
            raise
        raise ApiError(f"body: malformed multipart data ({type(exc).__name__})", "file") from None
    receiver.close()
    media = receiver.parts.get("file")
    if media is None or media.size == 0:
        receiver.discard()
        raise ApiError("file: required, and must not be empty", "file")
    if not is_media(media.filename, media.content_type):
        receiver.discard()
        raise UnsupportedMediaType(f"file: {media.content_type or 'this type'} is not an audio or video file", "file")
    return ReceivedUpload(media, receiver.parts.get("transcript"), receiver.fields)


def move_into_storage(part: StoredPart, storage: Storage, key: str) -> None:
    """Move a received part from the spool into storage as `key` (a rename, or a multipart upload to S3)."""
    storage.put_file(part.path, key)
