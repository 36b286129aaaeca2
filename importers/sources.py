"""What the importer reads besides the database: the stored media objects and the old platform's sealed api keys.

OpenTranscribe keeps media in MinIO under the object name its `media_file.storage_path` holds. Either a directory
holding those objects (a copy of the bucket, or MinIO's own data directory in its single-drive "fs" layout), or
the MinIO server itself (S3 API, through the `minio` client, installed separately) can be named.

Its api keys (`user_llm_settings.api_key`) are Fernet tokens, base64url-encoded once more before being stored. The
Fernet key comes from its ENCRYPTION_KEY setting: the setting base64url-decoded when that decodes, else the
setting's first 32 bytes (NUL-padded) base64url-encoded. That is read from its backend/app/utils/encryption.py;
the schema file only says "Encrypted API key". Every key accepted form is tried, so a deployment on either path
(or one that stored plain Fernet tokens) opens.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol
from urllib.parse import urlsplit

from cryptography.fernet import Fernet, InvalidToken

from storage import layout
from storage.backend import Storage


class ObjectSource(Protocol):
    def open(self, name: str) -> contextlib.AbstractContextManager[IO[bytes] | None]: ...


class DirectorySource:
    """Objects as files under a directory; a name leading outside it counts as missing."""

    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            raise FileNotFoundError(f"--storage: {root} is not a directory")
        self.root = root.resolve()

    @contextlib.contextmanager
    def open(self, name: str) -> Iterator[IO[bytes] | None]:
        path = (self.root / name).resolve()
        if self.root not in path.parents or not path.is_file():
            yield None
            return
        with path.open("rb") as handle:
            yield handle


class MinioSource:
    """A bucket on a MinIO (or any S3) server: `http://ACCESS:SECRET@host:9000`."""

    def __init__(self, url: str, bucket: str) -> None:
        try:
            from minio import Minio  # type: ignore[import-not-found, unused-ignore]
        except ImportError:
            raise FileNotFoundError(
                "--minio needs the MinIO client: pip install minio (or use --storage DIR)"
            ) from None
        parts = urlsplit(url)
        self.client = Minio(
            parts.netloc.rsplit("@", 1)[-1],
            access_key=parts.username or os.environ.get("MINIO_ROOT_USER", ""),
            secret_key=parts.password or os.environ.get("MINIO_ROOT_PASSWORD", ""),
            secure=parts.scheme == "https",
        )
        self.bucket = bucket

    @contextlib.contextmanager
    def open(self, name: str) -> Iterator[IO[bytes] | None]:
        from minio.error import S3Error  # type: ignore[import-not-found, unused-ignore]

        try:
            response = self.client.get_object(self.bucket, name)
        except S3Error:
            yield None
            return
        try:
            yield response
        finally:
            response.close()
            response.release_conn()


@dataclass(frozen=True)
class Copied:
    storage_path: str
    size: int
    sha256: str


def copy_object(source: ObjectSource, name: str, storage_dir: Path, owner_id: int, storage: Storage) -> Copied | None:
    """Copy one object into our storage (the local directory or S3) under a fresh path; None when the source has
    no such object. `storage_dir` only spools the bytes on their way."""
    incoming = layout.incoming_dir(storage_dir)
    incoming.mkdir(parents=True, exist_ok=True)
    partial = incoming / f"import-{os.urandom(8).hex()}.part"
    digest, size = hashlib.sha256(), 0
    with source.open(name) as handle:
        if handle is None:
            return None
        with partial.open("wb") as out:
            while chunk := handle.read(1024 * 1024):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
    relative = layout.new_media_path(owner_id)
    storage.put_file(partial, relative)
    return Copied(relative, size, digest.hexdigest())


class OldKeys:
    """Opens api keys sealed by OpenTranscribe with its ENCRYPTION_KEY."""

    def __init__(self, encryption_key: str) -> None:
        self.fernets = [Fernet(k) for k in _candidate_keys(encryption_key)]
        if not self.fernets:
            raise ValueError("--old-key: not a key OpenTranscribe could have used")

    def open(self, stored: str) -> str | None:
        """The api key, or None when no candidate key opens it."""
        tokens = [stored.encode()]
        with contextlib.suppress(binascii.Error, ValueError):
            tokens.insert(0, base64.urlsafe_b64decode(stored.encode()))
        for fernet in self.fernets:
            for token in tokens:
                with contextlib.suppress(InvalidToken):
                    return fernet.decrypt(token).decode()
        return None


def _candidate_keys(setting: str) -> list[bytes]:
    candidates: list[bytes] = []
    with contextlib.suppress(binascii.Error, ValueError):
        candidates.append(base64.urlsafe_b64decode(setting))  # the first path: the setting decodes
    material = setting.encode()
    candidates.append(base64.urlsafe_b64encode(material.ljust(32, b"\0")[:32]))  # the second: derived from it
    candidates.append(material)  # a plain Fernet key, used as is
    valid = []
    for key in candidates:
        with contextlib.suppress(ValueError, binascii.Error):
            Fernet(key)
            valid.append(key)
    return valid
