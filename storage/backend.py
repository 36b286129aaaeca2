"""Where stored files live: a local directory (one machine) or an S3-compatible bucket (many machines).

Both take the same keys, the storage paths of storage/layout.py (`<owner id>/<hex>`, its companions), each
checked by the layout's guard before use. Uploads arrive in a local spool (`<OPENTR_STORAGE_DIR>/incoming`) and
`put_file` moves them in: a rename on disk, a multipart upload read from the file in 8 MB parts for S3 (bounded
memory, retried part by part). Readers either stream a byte range (`read_range`: the HTTP content route) or get
a local file (`local_copy`: PyAV and the ASR engines read paths; for S3 the object is streamed to a temporary
file that is deleted afterwards).

boto3 rather than the MinIO client: its transfer manager does concurrent multipart uploads and ranged downloads,
it speaks to AWS, MinIO, Garage, SeaweedFS and Ceph alike through `endpoint_url`, and it is the SDK operators
already configure (credential chain, instance roles).

What failed is said in two words every caller understands: `StorageUnavailable` (the store cannot be reached or
answers with a server error after boto3's own retries: try again later, the data is not at fault) and `StorageFull`
(no space left where the bytes go). The web answers them 503 and 507; a job waits for the store and runs again.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config.settings import Settings
from storage import layout

CHUNK = 64 * 1024
PART = 8 * 1024 * 1024
FULL = (errno.ENOSPC, errno.EDQUOT)  # the disk, or the owner's quota, is full


class StorageUnavailable(Exception):
    """The object store could not be reached, or failed, after the client's retries: nothing about the data."""


class StorageFull(Exception):
    """No space is left where the bytes were being written."""


def full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in FULL


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    modified: float  # seconds since the epoch


class Storage(ABC):
    @abstractmethod
    def put_file(self, source: Path, key: str) -> None:
        """Move the local file `source` in as `key` (the source is gone afterwards)."""

    @abstractmethod
    def put_bytes(self, key: str, data: bytes) -> None: ...

    @abstractmethod
    def size(self, key: str) -> int:
        """The object's size; FileNotFoundError when it is not stored."""

    @abstractmethod
    def read_range(self, key: str, start: int, end: int) -> Iterator[bytes]:
        """Bytes `start`..`end` (inclusive) of the object, in chunks."""

    @abstractmethod
    def local_copy(self, key: str) -> contextlib.AbstractContextManager[Path]:
        """A local file with the object's content for the duration of the `with`; FileNotFoundError if missing."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object; one that is already gone is fine."""

    @abstractmethod
    def objects(self) -> Iterator[StoredObject]:
        """Every stored object (the upload spool and database backups excluded)."""

    @abstractmethod
    def check(self) -> None:
        """Return when the store answers; StorageUnavailable when it does not (one attempt, no retries)."""

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
        except FileNotFoundError:
            return False
        return True

    def read_bytes(self, key: str) -> bytes:
        return b"".join(self.read_range(key, 0, max(self.size(key) - 1, 0)))


class LocalStorage(Storage):
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        return layout.resolve(self.root, key)

    def put_file(self, source: Path, key: str) -> None:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)

    def put_bytes(self, key: str, data: bytes) -> None:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        try:
            partial.write_bytes(data)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            if full(exc):
                raise StorageFull(f"no space left in the storage directory ({self.root})") from exc
            raise
        os.replace(partial, target)  # a reader never sees half a file

    def size(self, key: str) -> int:
        path = self.path(key)
        if not path.is_file():
            raise FileNotFoundError(key)
        return path.stat().st_size

    def read_range(self, key: str, start: int, end: int) -> Iterator[bytes]:
        with self.path(key).open("rb") as source:
            source.seek(start)
            left = end - start + 1
            while left > 0 and (chunk := source.read(min(CHUNK, left))):
                left -= len(chunk)
                yield chunk

    @contextlib.contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        path = self.path(key)
        if not path.is_file():
            raise FileNotFoundError(key)
        yield path

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(key).unlink()

    def objects(self) -> Iterator[StoredObject]:
        skipped = (layout.incoming_dir(self.root), self.root / layout.BACKUPS)
        if not self.root.is_dir():
            return
        for path in sorted(p for p in self.root.rglob("*") if p.is_file() and not set(skipped) & set(p.parents)):
            stat = path.stat()
            yield StoredObject(path.relative_to(self.root).as_posix(), stat.st_size, stat.st_mtime)

    def check(self) -> None:
        if not self.root.is_dir():  # a network mount gone, say
            raise StorageUnavailable(f"the storage directory {self.root} is not there")


class S3Storage(Storage):
    """`s3://bucket/prefix`: objects named `<prefix>/<storage path>`."""

    def __init__(self, url: str, client: Any, spool: Path, probe: Any = None) -> None:
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        self.bucket, self.prefix, self.client, self.spool = bucket, prefix.strip("/"), client, spool
        self.probe = probe or client  # `check` asks once: a client without retries
        from boto3.s3.transfer import TransferConfig

        self.transfer = TransferConfig(multipart_threshold=PART, multipart_chunksize=PART, max_concurrency=4)

    def name(self, key: str) -> str:
        checked = layout.object_key(key)
        return f"{self.prefix}/{checked}" if self.prefix else checked

    def put_file(self, source: Path, key: str) -> None:
        with unavailable_on_outage(self.bucket):
            self.client.upload_file(str(source), self.bucket, self.name(key), Config=self.transfer)
        source.unlink(missing_ok=True)

    def put_bytes(self, key: str, data: bytes) -> None:
        with unavailable_on_outage(self.bucket):
            self.client.put_object(Bucket=self.bucket, Key=self.name(key), Body=data)

    def size(self, key: str) -> int:
        from botocore.exceptions import ClientError

        try:
            with unavailable_on_outage(self.bucket):
                head = self.client.head_object(Bucket=self.bucket, Key=self.name(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                raise FileNotFoundError(key) from None
            raise
        return int(head["ContentLength"])

    def read_range(self, key: str, start: int, end: int) -> Iterator[bytes]:
        with unavailable_on_outage(self.bucket):
            body = self.client.get_object(Bucket=self.bucket, Key=self.name(key), Range=f"bytes={start}-{end}")
        try:
            with unavailable_on_outage(self.bucket):
                yield from body["Body"].iter_chunks(CHUNK)
        finally:
            body["Body"].close()

    @contextlib.contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        self.size(key)  # FileNotFoundError before creating anything
        self.spool.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix="s3-", suffix=".media", dir=self.spool)
        os.close(handle)
        path = Path(name)
        try:
            with unavailable_on_outage(self.bucket):
                self.client.download_file(self.bucket, self.name(key), name, Config=self.transfer)
            yield path
        finally:
            path.unlink(missing_ok=True)

    def delete(self, key: str) -> None:
        with unavailable_on_outage(self.bucket):
            self.client.delete_object(Bucket=self.bucket, Key=self.name(key))

    def objects(self) -> Iterator[StoredObject]:
        start = f"{self.prefix}/" if self.prefix else ""
        with unavailable_on_outage(self.bucket):
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=start):
                for item in page.get("Contents", []):
                    key = item["Key"][len(start) :]
                    if not key.startswith(f"{layout.BACKUPS}/"):
                        yield StoredObject(key, int(item["Size"]), item["LastModified"].timestamp())

    def check(self) -> None:
        with unavailable_on_outage(self.bucket):
            self.probe.head_bucket(Bucket=self.bucket)


def _outage(exc: BaseException | None) -> bool:
    """A failure of the store itself, not of the request: unreachable, timed out, or a 5xx after the retries.
    boto3's transfer manager re-raises some as its own errors, so the whole chain is read."""
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, ConnectionError | HTTPClientError):
            return True
        if isinstance(exc, ClientError):
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            return status >= 500 or exc.response.get("Error", {}).get("Code") in ("SlowDown", "RequestTimeout")
        exc, seen = exc.__cause__ or exc.__context__ or getattr(exc, "last_exception", None), seen + 1
    return False


@contextlib.contextmanager
def unavailable_on_outage(bucket: str) -> Iterator[None]:
    """What the store's failures mean to a caller: StorageUnavailable naming the bucket and the reason."""
    try:
        yield
    except StorageUnavailable:
        raise
    except Exception as exc:
        if not _outage(exc):
            raise
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StorageUnavailable(f"the object storage (bucket {bucket}) is unavailable: {reason}") from exc


def s3_client(settings: Settings, attempts: int = 5) -> Any:
    import boto3
    from botocore.config import Config

    secret = settings.opentr_s3_secret_key.get_secret_value() if settings.opentr_s3_secret_key else None
    return boto3.client(
        "s3",
        endpoint_url=settings.opentr_s3_endpoint_url,
        region_name=settings.opentr_s3_region,
        aws_access_key_id=settings.opentr_s3_access_key,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": attempts, "mode": "standard"}, s3={"addressing_style": "path"}),
    )


def open_storage(settings: Settings) -> Storage:
    """The configured backend: OPENTR_STORAGE_URL (s3://…) when set, else the local OPENTR_STORAGE_DIR."""
    if settings.opentr_storage_url:
        spool = layout.incoming_dir(settings.storage_dir)
        return S3Storage(settings.opentr_storage_url, s3_client(settings), spool, s3_client(settings, attempts=1))
    return LocalStorage(settings.storage_dir)
