"""Where the files that belong to an upload live: next to the media under the storage directory.

An upload is stored as `<owner id>/<random hex>`; its transcript sidecar and its video thumbnail are that path plus
a suffix. Deleting the file, and `opentr cleanup`'s idea of what is known, both go through `companions`.
"""

from __future__ import annotations

SIDECAR_SUFFIX = ".transcript"
THUMBNAIL_SUFFIX = ".thumbnail.jpg"
COMPANION_SUFFIXES = (SIDECAR_SUFFIX, THUMBNAIL_SUFFIX)


def companions(storage_path: str) -> list[str]:
    """The storage paths of the files that may accompany the upload stored at `storage_path`."""
    return [storage_path + suffix for suffix in COMPANION_SUFFIXES]


def thumbnail_path(storage_path: str) -> str:
    return storage_path + THUMBNAIL_SUFFIX
