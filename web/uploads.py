"""Streaming multipart uploads straight into storage, hashing on the way; nothing whole in memory.

The stored name is random (`<owner id>/<uuid4 hex>`): no part of a client-supplied filename ever reaches a path.
A part's filename is read from its Content-Disposition as browsers and curl send it (raw UTF-8, or `filename*=`:
web/content_disposition.py) and becomes the display name (storage/names.py). A media part declared as anything but
audio/* or video/* (`application/octet-stream`, or no type) is judged by its content (media/sniff.py) and stored
with the type its content has.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import anyio
from python_multipart import MultipartParser
from python_multipart.exceptions import ParseError
from python_multipart.multipart import parse_options_header
from starlette.requests import ClientDisconnect, Request

from media.sniff import HEAD_BYTES, recognise
from storage.backend import Storage, full
from storage.names import clean_filename, declares_media
from web.content_disposition import decode_header, parse_part
from web.errors import STORAGE_FULL_DETAIL, ApiError, InsufficientStorage, PayloadTooLarge, UnsupportedMediaType

log = logging.getLogger("opentr.web")
SIDECAR_LIMIT = 64 * 1024 * 1024
FIELD_LIMIT = 64 * 1024
# One header line of a part: python-multipart's default (4 KB) is less than a long name in filename= and filename*.
HEADER_LIMIT = 16 * 1024
MEDIA_FIELD, SIDECAR_FIELD = "file", "transcript"


@dataclass
class StoredPart:
    path: Path
    filename: str
    content_type: str
    size: int = 0
    sha256: str = ""
    head: bytes = b""  # the first bytes, for recognising the content


@dataclass
class ReceivedUpload:
    media: StoredPart
    sidecar: StoredPart | None
    fields: dict[str, str] = field(default_factory=dict)

    def discard(self) -> None:
        for part in (self.media, self.sidecar):
            if part is not None:
                part.path.unlink(missing_ok=True)


@dataclass
class ReceivedTranscript:
    """A transcript file sent for an existing file (PUT /api/files/{uuid}/transcript)."""

    sidecar: StoredPart
    fields: dict[str, str] = field(default_factory=dict)

    def discard(self) -> None:
        self.sidecar.path.unlink(missing_ok=True)


class _Receiver:
    """python-multipart callbacks: each file part (a name in `limits`) streams to a spool file, text parts to
    `fields`. Part headers are read here, not by python-multipart's option parser (see the module doc)."""

    def __init__(self, directory: Path, limits: dict[str, int]) -> None:
        self.directory, self.limits = directory, limits
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
        self.headers[self._header_name.decode("latin-1").strip().lower()] = decode_header(self._header_value)
        self._header_name = self._header_value = b""

    def on_headers_finished(self) -> None:
        disposition = parse_part(self.headers.get("content-disposition", ""))
        self._name = disposition.name
        if self._name in self.limits:
            if self._name in self.parts:
                raise ApiError(f"{self._name}: sent twice", self._name)
            content_type = self.headers.get("content-type", "application/octet-stream").split(";")[0].strip()
            # A file field is a file whether or not its part carries a filename (the document promises no more).
            part = StoredPart(
                self.directory / f"{uuid.uuid4().hex}.part",
                clean_filename(disposition.filename if disposition.filename is not None else self._name),
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
        if len(part.head) < HEAD_BYTES:
            part.head += chunk[: HEAD_BYTES - len(part.head)]
        part.size += len(chunk)
        limit = self.limits[self._name]
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


async def _receive(request: Request, directory: Path, limits: dict[str, int], required: str) -> _Receiver:
    """Parse multipart/form-data into spooled file parts and text fields; `required` must be a non-empty file."""
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or b"boundary" not in options:
        raise ApiError(f"body: expected multipart/form-data with a {required} field", required)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > sum(limits.values()) + FIELD_LIMIT:
        raise PayloadTooLarge(f"upload larger than {limits[required] // (1024 * 1024)} MB", required)
    directory.mkdir(parents=True, exist_ok=True)
    receiver = _Receiver(directory, limits)
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
    parser = MultipartParser(options[b"boundary"], callbacks, max_header_size=HEADER_LIMIT)
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
        receiver.close()  # its last buffered bytes may be what fills the disk
    except Exception as exc:
        receiver.discard()  # the partial spool file too: it may be what filled the disk
        if isinstance(exc, ApiError):
            raise
        if full(exc):
            log.error("upload refused: no space left in %s (%s)", directory, exc)
            await _drain(request)
            raise InsufficientStorage(STORAGE_FULL_DETAIL, required) from None
        reason = str(exc) if isinstance(exc, ParseError) else type(exc).__name__  # its messages are sentences
        raise ApiError(f"body: malformed multipart data ({reason})", "body") from None
    part = receiver.parts.get(required)
    if part is None or part.size == 0:
        receiver.discard()
        raise ApiError(f"{required}: required, and must not be empty", required)
    return receiver


async def _drain(request: Request) -> None:
    """Read what the client is still sending, to nowhere: a server that answers and closes with unread bytes makes
    the kernel reset the connection, and the client may never see the answer. Starlette says RuntimeError when
    the body was already read to its end."""
    with contextlib.suppress(RuntimeError, ClientDisconnect):
        async for _ in request.stream():
            pass


async def receive_upload(request: Request, directory: Path, max_media_bytes: int) -> ReceivedUpload:
    """Parse multipart/form-data: `file` (required media), `transcript` (optional sidecar), small text fields."""
    limits = {MEDIA_FIELD: max_media_bytes, SIDECAR_FIELD: SIDECAR_LIMIT}
    receiver = await _receive(request, directory, limits, MEDIA_FIELD)
    media = receiver.parts[MEDIA_FIELD]
    if not declares_media(media.content_type):
        found = await anyio.to_thread.run_sync(recognise, media.path, media.head)
        if found is None:
            receiver.discard()
            declared = f"sent as {media.content_type}" if media.content_type else "sent without a type"
            raise UnsupportedMediaType(
                f"file: {media.filename} is not an audio or video file ({declared}, and its content is neither)",
                MEDIA_FIELD,
            )
        media.content_type = found
    return ReceivedUpload(media, receiver.parts.get(SIDECAR_FIELD), receiver.fields)


async def receive_transcript(request: Request, directory: Path) -> ReceivedTranscript:
    """Parse multipart/form-data holding one `transcript` file (WhisperX JSON, SRT or WebVTT)."""
    receiver = await _receive(request, directory, {SIDECAR_FIELD: SIDECAR_LIMIT}, SIDECAR_FIELD)
    return ReceivedTranscript(receiver.parts[SIDECAR_FIELD], receiver.fields)


def move_into_storage(part: StoredPart, storage: Storage, key: str) -> None:
    """Move a received part from the spool into storage as `key` (a rename, or a multipart upload to S3)."""
    storage.put_file(part.path, key)
