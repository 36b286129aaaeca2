"""The kinds of LLM work over a transcript (`topics`, `speaker_names`, `translation`), each a run of
repo/llm_runs.py run by its module in workers/ on the skeleton of workers/llm_run.py.

A run and its task are written in one transaction (`queue_run`) and enqueued after its commit. A run whose worker
died ends failed and its requester is told to ask again: its requests cost money and may have been answered, so it
is not re-run behind their back (as a summary is not).
"""

from __future__ import annotations

from redis import Redis

from jobs.queues import SUMMARIES
from jobs.registry import DEAD_OWNER, DeadJob, JobKind, Outcome, Queued, Recovered, close_task, declare
from repo.database import Connection
from repo.errors import Conflict, NotFound
from repo.llm_runs import LLM_RUN_SUBJECT, LlmRun, LlmRunRepository, RunKind, task_id_for
from repo.llm_usage import LlmUsageRepository
from repo.notifications import NotificationRepository
from repo.rows import Actor

NOTIFICATION_KIND = "summary"  # what a language model made of a file: shown and muted with its summaries
TITLES = {"topics": "topics", "speaker_names": "speaker names", "translation": "translation"}


def queue_run(
    conn: Connection,
    actor: Actor,
    kind: RunKind,
    file_id: int,
    llm_configuration_id: int,
    *,
    language: str | None = None,
    options: dict[str, object] | None = None,
) -> tuple[LlmRun, Queued]:
    """A pending run and its task in the caller's transaction; enqueue the returned job after the commit.

    TokenLimitReached when the actor has used up today's tokens already (each request is checked again)."""
    LlmUsageRepository(conn).require_room(actor.id, 0)
    run = LlmRunRepository(conn).create(actor, kind, file_id, llm_configuration_id, language=language, options=options)
    job_kind = RUN_KINDS[kind]
    task_id = job_kind.create_task(conn, actor.id, file_id, task_id_for(kind, run.uuid))
    return run, Queued(job_kind, run.id, task_id)


def enqueue(redis: Redis, queued: Queued) -> bool:
    return queued.enqueue(redis)


def _recover(conn: Connection, dead: DeadJob) -> Recovered:
    if dead.subject_id is None:
        return close_task(conn, dead.task_id)
    try:
        run = LlmRunRepository(conn).fail(dead.subject_id, f"{DEAD_OWNER}; request it again")
    except (Conflict, NotFound):  # it ended meanwhile (its answer won), or went with its file
        return close_task(conn, dead.task_id)
    close_task(conn, dead.task_id)
    NotificationRepository(conn).notify(  # last, as the lock order of sql/jobs.sql says
        run.user_id,
        "error",
        f"{TITLES[run.kind]} failed",
        "the worker stopped on the way; request it again",
        media_file_id=run.media_file_id,
        task_id=dead.task_id,
    )
    return Recovered(Outcome.FAILED)


def _declare(name: RunKind, function: str) -> JobKind:
    return declare(
        JobKind(
            name=name,
            queue=SUMMARIES,  # beside summaries: work a person waits for that needs no GPU
            function=function,
            subject=LLM_RUN_SUBJECT,
            recover=_recover,
            progress=NOTIFICATION_KIND,
            timeout_seconds=3 * 3600,  # a long transcript translated part by part on a slow local model
        )
    )


TOPICS = _declare("topics", "workers.topics_job.extract_topics")
SPEAKER_NAMES = _declare("speaker_names", "workers.speaker_names_job.propose_speaker_names")
TRANSLATION = _declare("translation", "workers.translation_job.translate_transcript")
RUN_KINDS: dict[str, JobKind] = {kind.name: kind for kind in (TOPICS, SPEAKER_NAMES, TRANSLATION)}
