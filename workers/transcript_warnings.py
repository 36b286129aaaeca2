"""What the user should know about a transcript that was accepted: written on the file when it is published.

A transcript file uploaded with a recording (or attached later) is taken as it is, because its times may be a
little off and its text still be what the user wants. But speech that runs well past the end of the recording
(18 s of speech in a 6.9 s file) means the file belongs to another recording or its times are shifted: the
transcript is kept, and the file says so (its `warnings`, shown on its page and in the API) with a notification.
The list is replaced on every publish, so processing again with a fitting transcript clears it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from repo.database import Connection
from repo.file_processing import FileProcessingRepository
from workers.steps import FileJob

# Engines and subtitle tools round the last cue up, and a header's duration can be a frame short: only more counts.
TOLERANCE_SECONDS = 1.0
TOLERANCE_SHARE = 0.02


class Timed(Protocol):
    @property
    def end_time(self) -> float: ...


def past_the_end(last_end: float | None, duration: float | None) -> str | None:
    """The warning for speech that ends after the recording does; None when it fits (or a length is unknown)."""
    if last_end is None or duration is None or duration <= 0:
        return None
    if last_end - duration <= max(TOLERANCE_SECONDS, duration * TOLERANCE_SHARE):
        return None
    return (
        f"the transcript's speech runs to {last_end:.1f} s, but the recording is only {duration:.1f} s long: "
        "the transcript file may belong to another recording, or its times may be shifted"
    )


def record(conn: Connection, job: FileJob, segments: Iterable[Timed], duration: float | None) -> list[str]:
    """Check the transcript being published in `conn`'s transaction; store the file's warnings (replacing any from
    an earlier run); the job's outcome notification says each one. The warnings, for the caller's log."""
    last_end = max((segment.end_time for segment in segments), default=None)
    warnings = [warning for warning in (past_the_end(last_end, duration),) if warning is not None]
    FileProcessingRepository(conn).set_warnings(job.file_id, warnings)
    for warning in warnings:
        job.note(f"the transcript may not fit the recording: {warning}")
    return warnings
