"""Every kind of job the project declares: importing this module declares them all (jobs/registry.py)."""

from __future__ import annotations

from jobs.data_exports import DATA_EXPORT
from jobs.downloads import DOWNLOAD
from jobs.embeddings import EMBEDDING
from jobs.llm_runs import SPEAKER_NAMES, TOPICS, TRANSLATION
from jobs.registry import JobKind, declared
from jobs.retention import RETENTION
from jobs.summaries import SUMMARY
from jobs.transcription import TRANSCRIPTION

PROJECT_KINDS = (
    TRANSCRIPTION,
    SUMMARY,
    DOWNLOAD,
    EMBEDDING,
    DATA_EXPORT,
    RETENTION,
    TOPICS,
    SPEAKER_NAMES,
    TRANSLATION,
)


def all_kinds() -> tuple[JobKind, ...]:
    """The project's kinds and any declared outside it in this process (a test's, a plugin's)."""
    return declared()
