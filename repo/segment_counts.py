"""How many segments each transcript version has: kept per process, so the library page does not count them.

The library page shows each file's segment count. Counting them is an index scan of every segment of the 50 files
on the page (50,000 index entries for hour-long recordings): it was most of the page's PostgreSQL time
(bench/README.md, "File page against the old stack"). A count belongs to one transcript version: statement
triggers on `transcript_segments` (insert, update, delete; COPY included) give the file a new version in the same
transaction as any change of its segments. So (file, version) names one set of segments, and its count never
changes: this cache is never stale, only unused. Keyed by the file's uuid, not its id, as the transcript cache is:
a database rebuilt under a running process (`opentr reset dev`, the tests' databases) starts ids and versions
again, never a random uuid. Files without a version (nothing written since migration 0005) are not kept: the page
query counts them itself.

Bounded (the oldest counts go first) and shared by the threads of a process; each process keeps its own, like the
transcript cache (web/body_cache.py).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from uuid import UUID

MAX_ENTRIES = 200_000  # ~40 MB at most: a count per version of as many files


Key = tuple[UUID, int]  # (file uuid, transcript version)


class SegmentCounts:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._counts: dict[Key, int] = {}
        self._lock = threading.Lock()

    def get(self, file_uuid: UUID, version: int | None) -> int | None:
        """The count of this file's transcript version, if kept."""
        return None if version is None else self._counts.get((file_uuid, version))

    def keep(self, counted: Iterable[tuple[UUID, int | None, int]]) -> None:
        """Keep (file uuid, version, count) read in one snapshot; those without a version are not kept."""
        with self._lock:
            for file_uuid, version, count in counted:
                if version is not None:
                    self._counts[(file_uuid, version)] = count
            while len(self._counts) > self.max_entries:  # dicts keep insertion order: the oldest go first
                del self._counts[next(iter(self._counts))]

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()

    def __len__(self) -> int:
        return len(self._counts)


COUNTS = SegmentCounts()
