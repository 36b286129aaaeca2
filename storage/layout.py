"""Where things live under the storage directory, and the guard every stored path goes through.

    <storage>/<owner id>/<uuid4 hex>               an uploaded media file (its `storage_path` in media_files)
    <storage>/<owner id>/<uuid4 hex>.transcript    the transcript sidecar uploaded with it, if any
    <storage>/<owner id>/<uuid4 hex>.thumbnail.jpg a video's thumbnail, made while processing
    <storage>/incoming/<uuid4 hex>.part            an upload still being received (cleanup removes old ones)
    <storage>/backups/<database>-<time>.dump       with OPENTR_STORAGE_URL: a copy of each `opentr db backup`

A `storage_path` comes from the database, so it is resolved and refused when it would lead outside the storage
directory (`..`, an absolute path, a symlink): a bad row must never make the web or a worker read or delete
another file.
"""

from __future__ import annotations

import uuid
from pathlib import Path

SIDECAR_SUFFIX = ".transcript"
THUMBNAIL_SUFFIX = ".thumbnail.jpg"
COMPANION_SUFFIXES = (SIDECAR_SUFFIX, THUMBNAIL_SUFFIX)
INCOMING = "incoming"
BACKUPS = "backups"  # database dumps kept in object storage (`opentr db backup`); never stray, never media


class OutsideStorage(FileNotFoundError):
    """A stored path that would resolve outside the storage directory: for us, no such stored file."""


def new_media_path(owner_id: int) -> str:
    """A fresh random storage path for one owner's upload; no part of a client's filename ever reaches it."""
    return f"{owner_id}/{uuid.uuid4().hex}"


def sidecar_of(storage_path: str) -> str:
    """The storage path of a media file's transcript sidecar."""
    return storage_path + SIDECAR_SUFFIX


def thumbnail_of(storage_path: str) -> str:
    """The storage path of a video's thumbnail."""
    return storage_path + THUMBNAIL_SUFFIX


def companions(storage_path: str) -> list[str]:
    """The storage paths of the files that may accompany the upload at `storage_path` (deleted with it, and known
    to cleanup)."""
    return [storage_path + suffix for suffix in COMPANION_SUFFIXES]


def backup_key(filename: str) -> str:
    """Where a database dump named `filename` is kept in object storage."""
    return object_key(f"{BACKUPS}/{filename}")


def incoming_dir(storage_dir: Path) -> Path:
    """Where uploads are received before they are moved to their final name."""
    return storage_dir / INCOMING


def resolve(storage_dir: Path, storage_path: str) -> Path:
    """The file for `storage_path`, resolved; OutsideStorage when it would lie outside `storage_dir`."""
    root = storage_dir.resolve()
    path = (root / storage_path).resolve()
    if root not in path.parents:
        raise OutsideStorage(f"stored path {storage_path!r} is outside the storage directory")
    return path


def object_key(storage_path: str) -> str:
    """`storage_path` as an object-store key, refused (OutsideStorage) when it is absolute or climbs out with
    `..`: the same guard as `resolve`, for backends without a directory to resolve against."""
    parts = storage_path.split("/")
    if (
        not storage_path
        or storage_path.startswith("/")
        or "\\" in storage_path
        or any(p in ("", ".", "..") for p in parts)
    ):
        raise OutsideStorage(f"stored path {storage_path!r} is outside the storage directory")
    return storage_path
