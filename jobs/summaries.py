"""The `summarization` kind: a summary pending → processing → completed | failed | cancelled, run by
workers/summary_job.py.

A summary whose job died ends failed, telling its owner to request it again: an LLM call costs money and may have
been answered already, so it is not re-run behind the user's back.
"""

from __future__ import annotations

import re

from redis import Redis

from jobs.queues import SUMMARIES
from jobs.registry import DEAD_OWNER, DeadJob, JobKind, Outcome, Recovered, close_task, declare
from repo.database import Connection
from repo.errors import Conflict, NotFound
from repo.llm_configs import LlmConfigRepository
from repo.media_files import MediaFileRepository
from repo.notifications import NotificationRepository
from repo.prompts import PromptRepository
from repo.rows import Actor
from repo.summaries import SUMMARY_SUBJECT, SummaryRepository, task_id_for


class NoActiveConfiguration(Conflict):
    def __init__(self) -> None:
        super().__init__("no active LLM configuration: add one and activate it", "llm_config_uuid")


def queue_summary(
    conn: Connection,
    user_id: int,
    file_id: int,
    prompt_id: int | None = None,
    config_id: int | None = None,
    language: str | None = None,
) -> tuple[int, str]:
    """Create the pending summary and its task in the caller's transaction; returns (summary_id, task_id).

    The summary takes its prompt's shape, and is written in `language`, else the transcript's (when it is a language
    code), else whatever the model chooses."""
    actor = Actor(user_id)
    configs = LlmConfigRepository(conn, b"")
    config = configs.get_by_id(config_id) if config_id is not None else configs.active(actor)
    if config is None:
        raise NoActiveConfiguration()
    prompt = PromptRepository(conn).get_by_id(prompt_id) if prompt_id else PromptRepository(conn).active(actor)
    if language is None:
        spoken = MediaFileRepository(conn).get_by_id(file_id).language
        language = spoken if spoken and re.fullmatch("[a-z]{2,3}", spoken) else None  # a code, as Whisper says it
    summary = SummaryRepository(conn).create_pending(
        actor, file_id, prompt.id, config.id, config.provider, config.model_name, prompt.output_format, language
    )
    return summary.id, SUMMARY.create_task(conn, user_id, file_id, task_id_for(summary.uuid))


def enqueue_summary(redis: Redis, summary_id: int, task_id: str) -> bool:
    return SUMMARY.enqueue(redis, summary_id, task_id)


def _recover(conn: Connection, dead: DeadJob) -> Recovered:
    if dead.subject_id is None:
        return close_task(conn, dead.task_id)
    try:
        summary = SummaryRepository(conn).fail(dead.subject_id, f"{DEAD_OWNER}; request the summary again")
    except (Conflict, NotFound):  # it ended meanwhile (its answer won) or was deleted
        return close_task(conn, dead.task_id)
    close_task(conn, dead.task_id)
    NotificationRepository(conn).notify(  # last, as the lock order of sql/jobs.sql says
        summary.user_id,
        "error",
        "summary failed",
        "the worker stopped while summarising; request the summary again",
        media_file_id=summary.media_file_id,
        task_id=dead.task_id,
    )
    return Recovered(Outcome.FAILED)


SUMMARY = declare(
    JobKind(
        name="summarization",
        queue=SUMMARIES,
        function="workers.summary_job.generate_summary",
        subject=SUMMARY_SUBJECT,
        recover=_recover,
        progress="summary",
        timeout_seconds=3600,
    )
)
