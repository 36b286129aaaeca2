"""Encoded response bodies that are expensive to build and cheap to key: a bounded, thread-safe LRU of bytes with
their gzip form, and Accept-Encoding negotiation.

A whole transcript is keyed by (file uuid, transcript version): the version changes in the same transaction as any
change to what the route returns (`transcript_versions`, kept by triggers), so an entry is never stale, only
unused, and a process never needs to be told to forget one. Bytes, not objects: a 1,000-segment transcript is
~1 MB of JSON (~0.2 MB gzipped) and serving it from here costs a copy, where building it costs ~10-30 ms of
PostgreSQL CPU.
"""

from __future__ import annotations

import gzip
import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

# Smaller bodies are sent as they are: a gzip header and a round trip through zlib cost more than they save.
MIN_COMPRESS_BYTES = 1024
# Level 1: a cache miss compresses the whole body while the client waits (a 3-hour transcript is ~13 MB of JSON),
# and level 1 does that ~3x faster than level 6 for ~20 % more bytes (bench/README.md, section 9).
GZIP_LEVEL = 1


@dataclass(frozen=True, slots=True)
class Encoded:
    """A body, raw or gzipped. A cache entry holds one form: raw until a client that accepts gzip asks for it, then
    gzipped only (about a quarter of the bytes). A miss never compresses for a client that does not accept gzip;
    such a client, on an entry already gzipped, costs a decompression (~3 ms per MB) that is not kept."""

    raw: bytes | None = None
    gzipped: bytes | None = None

    @property
    def size(self) -> int:
        return len(self.raw or b"") + len(self.gzipped or b"")

    def compressible(self) -> bool:
        return self.gzipped is not None or len(self.raw or b"") >= MIN_COMPRESS_BYTES

    def as_gzip(self) -> Encoded:
        if self.gzipped is not None or self.raw is None:
            return self
        return Encoded(gzipped=gzip.compress(self.raw, GZIP_LEVEL, mtime=0))

    def as_raw(self) -> Encoded:
        if self.raw is not None or self.gzipped is None:
            return self
        return Encoded(raw=gzip.decompress(self.gzipped))


class BodyCache:
    """At most `max_bytes` of bodies, one version per key (a newer one replaces it), least recently used evicted
    first."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, tuple[int, Encoded]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable, version: int) -> Encoded | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None or found[0] != version:
                return None
            self._entries.move_to_end(key)
            return found[1]

    def put(self, key: Hashable, version: int, entry: Encoded) -> None:
        with self._lock:
            old = self._entries.get(key)
            if old is not None and old[0] > version:
                return  # a slower request read an older version: keep the newer one
            if old is not None:
                del self._entries[key]
                self._bytes -= old[1].size
            if entry.size > self.max_bytes:
                return
            self._entries[key] = (version, entry)
            self._bytes += entry.size
            while self._bytes > self.max_bytes:
                _, (_, evicted) = self._entries.popitem(last=False)
                self._bytes -= evicted.size


def accepts_gzip(accept_encoding: str) -> bool:
    """True when the Accept-Encoding header allows gzip (by name or `*`) with a non-zero quality."""
    for item in accept_encoding.split(","):
        name, _, params = item.strip().partition(";")
        if name.strip().lower() not in ("gzip", "*"):
            continue
        quality = params.strip().lower()
        if quality.startswith("q="):
            try:
                return float(quality[2:]) > 0
            except ValueError:
                return False
        return True
    return False


def etag_matches(if_none_match: str, etag: str) -> bool:
    """If-None-Match's weak comparison (RFC 9110 13.1.2): `*`, or any listed tag equal to ours ignoring W/."""
    ours = etag.removeprefix("W/")
    for tag in if_none_match.split(","):
        tag = tag.strip()
        if tag == "*" or tag.removeprefix("W/") == ours:
            return True
    return False
