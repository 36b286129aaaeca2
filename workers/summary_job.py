"""`generate_summary(summary_id, task_id)`: the user's LLM turns the transcript into a BLUF summary.

The provider is called outside any transaction; the outcome (completed, or failed with the reason and the raw
answer) is stored in one transaction afterwards, so a summary is never lost in between.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import cast

from credentials.sealing import DecryptionError
from llm import clients as llm_clients
from llm.clients import LlmError, LlmSettings
from outbound.addresses import BlockedUrl, check_url
from outbound.retries import redact
from repo.database import Connection
from repo.errors import Conflict, DataError, Invalid, NotFound
from repo.llm_configs import LlmConfigRepository, Provider
from repo.media_files import MediaFileRepository
from repo.notifications import NotificationRepository
from repo.prompts import PromptRepository
from repo.rows import Actor
from repo.segments import SegmentRepository
from repo.summaries import SummaryRepository
from repo.tasks import TaskRepository
from workers import analytics
from workers.context import JobContext, job_context
from workers.liveness import JobLease, LeaseTaken
from workers.steps import ignoring_gone
from workers.summarizer import (
    SpeakerStats,
    SummaryError,
    SummaryFormatError,
    format_speaker_data,
    format_transcript,
    summarize,
)

log = logging.getLogger("opentr.jobs.summary")


@dataclass(frozen=True)
class SummaryInput:
    owner: int
    file_id: int
    filename: str
    settings: LlmSettings
    prompt_text: str
    transcript: list[str]
    speakers: str


def generate_summary(summary_id: int, task_id: str) -> str:
    context = job_context()
    try:
        with JobLease(context.database_url, context.settings, task_id):
            return _generate(context, summary_id, task_id)
    except LeaseTaken:
        log.info("%s: another live copy of this job owns it; nothing to do", task_id)
        return "skipped"


def _generate(context: JobContext, summary_id: int, task_id: str) -> str:
    """Ends the summary and its task in a final state whatever happens; only a lost database leaves them to
    recovery (which sees the job's lock gone)."""
    try:
        source = _prepare(context, summary_id, task_id)
    except (Conflict, NotFound):
        with context.db.transaction() as conn, ignoring_gone():
            TaskRepository(conn).cancel(task_id)
        return "skipped"
    except (DataError, DecryptionError) as exc:
        _fail(context, summary_id, task_id, str(exc), None)
        return "failed"
    if source is None:
        return "failed"
    try:
        result = summarize(source.settings, source.prompt_text, source.transcript, source.speakers)
    except SummaryFormatError as exc:
        _fail(context, summary_id, task_id, exc.message, exc.raw_response)
        return "failed"
    except (LlmError, SummaryError) as exc:
        _fail(context, summary_id, task_id, str(exc), None)
        return "failed"
    except Exception as exc:  # a bad configuration can make the HTTP client itself raise (e.g. a non-ASCII key)
        log.exception("summary %s: unexpected error from the LLM client", summary_id)
        message = redact(f"the LLM request failed: {type(exc).__name__}: {exc}", source.settings.api_key)
        _fail(context, summary_id, task_id, message, None)
        return "failed"
    bluf = result.bluf
    with context.db.transaction() as conn:
        SummaryRepository(conn).complete(
            summary_id,
            bluf.bluf,
            bluf.brief_summary,
            bluf.major_topics,
            bluf.action_items,
            bluf.key_decisions,
            bluf.follow_up_items,
            result.raw_response,
            result.input_tokens,
            result.output_tokens,
            result.processing_ms,
        )
        with ignoring_gone():  # recovery may have closed a task it took for dead: the summary still counts
            TaskRepository(conn).complete(task_id)
        _notify(conn, source.owner, source.file_id, task_id, f"{source.filename}: summary ready", bluf.bluf[:300])
    return "completed"


def _prepare(context: JobContext, summary_id: int, task_id: str) -> SummaryInput | None:
    with context.db.transaction() as conn:
        summary = SummaryRepository(conn).start(summary_id)
        TaskRepository(conn).start(task_id)
        owner = Actor(summary.user_id)
        media = MediaFileRepository(conn).get_by_id(summary.media_file_id)
        configs = LlmConfigRepository(conn, context.master_key)
        if summary.llm_configuration_id is None:
            raise DataError("the LLM configuration of this summary was deleted", "llm_config_uuid")  # fail, not skip
        config = configs.get_by_id(summary.llm_configuration_id)
        api_key = configs.api_key(owner, config.uuid)
        prompts = PromptRepository(conn)
        prompt = prompts.get_by_id(summary.prompt_id) if summary.prompt_id else prompts.active(owner)
        segments = SegmentRepository(conn).transcript(owner, media.uuid)
        _notify(conn, owner.id, media.id, task_id, f"{media.filename}: summarising", "", progress=0.1)
    if not segments:
        _fail(context, summary_id, task_id, "the file has no transcript to summarise", None)
        return None
    names = {s.speaker_label: s.speaker_name or s.speaker_label for s in segments if s.speaker_label}
    stats = [
        SpeakerStats(names.get(label, label), v["talk_time"], v["words"], v["turns"])
        for label, v in analytics.speaker_stats(segments).items()
    ]
    _guard(context, config.base_url or llm_clients.DEFAULT_BASE_URLS.get(config.provider))
    settings = LlmSettings(
        cast(Provider, config.provider),
        config.model_name,
        config.base_url,
        api_key,
        config.max_tokens,
        config.temperature,
        context.settings.opentr_llm_timeout_seconds,
    )
    return SummaryInput(
        owner.id,
        media.id,
        media.filename,
        settings,
        prompt.prompt_text,
        format_transcript((s.start_time, s.speaker_name, s.text) for s in segments),
        format_speaker_data(stats),
    )


def _guard(context: JobContext, base_url: str | None) -> None:
    """With OPENTR_LLM_ALLOW_PRIVATE=0, checked again at use: a name may resolve elsewhere than when it was saved."""
    allowance = context.settings.llm_allowance
    if base_url and not allowance.everything:
        try:
            check_url(base_url, allowance)
        except BlockedUrl as exc:
            raise Invalid(f"base_url: {exc}", "base_url") from None


def _fail(context: JobContext, summary_id: int, task_id: str, message: str, raw: str | None) -> None:
    log.warning("summary %s failed: %s", summary_id, message)
    with context.db.transaction() as conn:
        with ignoring_gone():
            summary = SummaryRepository(conn).fail(summary_id, message[:2000], raw)
            _notify(conn, summary.user_id, summary.media_file_id, task_id, "summary failed", message[:500])
        with ignoring_gone():
            TaskRepository(conn).fail(task_id, message[:2000])


def _notify(
    conn: Connection, user_id: int, file_id: int, task_id: str, title: str, message: str, progress: float | None = None
) -> None:
    kind = "error" if title.endswith("failed") else "summary"
    NotificationRepository(conn).notify(
        user_id,
        kind,
        title,
        message,
        data={"task_id": task_id},
        progress=progress,
        media_file_id=file_id,
        task_id=task_id,
    )
