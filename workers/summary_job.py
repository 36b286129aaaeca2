"""`generate_summary(summary_id, task_id)`, the `summarization` kind (jobs/summaries.py): the user's LLM turns the
transcript into a BLUF summary, run by the skeleton of workers/jobrun.py.

The provider is called outside any transaction; the outcome (completed, or failed with the reason and the raw
answer) is stored in one transaction afterwards, so a summary is never lost in between.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from credentials.sealing import DecryptionError
from jobs.registry import ignoring_gone
from jobs.summaries import SUMMARY
from llm import clients as llm_clients
from llm.clients import LlmError, LlmSettings
from outbound.addresses import BlockedUrl
from outbound.retries import redact
from repo.database import Connection
from repo.errors import Conflict, DataError, Invalid, NotFound
from repo.llm_configs import LlmConfigRepository
from repo.media_files import MediaFileRepository
from repo.prompts import PromptRepository
from repo.rows import Actor
from repo.segments import SegmentRepository
from repo.summaries import SummaryRepository
from repo.tasks import TaskRepository
from workers import analytics
from workers.context import JobContext
from workers.jobrun import Failure, JobBody, JobFailed, JobRun, job_function
from workers.summarizer import (
    SpeakerStats,
    SummaryError,
    SummaryFormatError,
    SummaryResult,
    format_speaker_data,
    format_transcript,
    summarize,
)

log = logging.getLogger("opentr.jobs.summary")


@dataclass
class SummaryJob:
    owner: int
    file_id: int
    filename: str
    answer: SummaryResult | None = None  # kept when storing it must wait for the database: asked once, paid once


@dataclass(frozen=True)
class SummaryInput:
    settings: LlmSettings
    prompt_text: str
    transcript: list[str]
    speakers: str


class GenerateSummary(JobBody[SummaryJob]):
    """Ends the summary and its task in a final state whatever happens; only a dead worker leaves them to recovery
    (which sees the job's lock gone)."""

    kind = SUMMARY
    expected = {DataError: "data", DecryptionError: "configuration", LlmError: "llm", SummaryError: "llm"}
    acts_as_file_owner = False  # the requester: their LLM configuration, on a file they may see

    def claim(self, run: JobRun, conn: Connection) -> SummaryJob:
        summary = SummaryRepository(conn).start(run.subject_id)
        media = MediaFileRepository(conn).get_by_id(summary.media_file_id)
        return SummaryJob(summary.user_id, media.id, media.filename)

    def started(self, run: JobRun, conn: Connection, job: SummaryJob) -> None:
        run.report(conn, job.owner, 0.1, "summarising", media_file_id=job.file_id)

    def work(self, run: JobRun, job: SummaryJob) -> None:
        if job.answer is None:
            job.answer = _ask(run, _prepare(run.context, run.subject_id))
        result = job.answer
        bluf = result.bluf
        with run.db.transaction() as conn:
            SummaryRepository(conn).complete(
                run.subject_id,
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
                TaskRepository(conn).complete(run.task_id)
            run.notify(conn, job.owner, f"{job.filename}: summary ready", bluf.bluf[:300], media_file_id=job.file_id)

    def fail(self, run: JobRun, job: SummaryJob, failure: Failure) -> None:
        error = failure.error
        message = error.message if isinstance(error, SummaryError) else failure.message
        raw = error.raw_response if isinstance(error, SummaryFormatError) else None
        with run.db.transaction() as conn:
            try:
                SummaryRepository(conn).fail(run.subject_id, message[:2000], raw)
            except (Conflict, NotFound):  # deleted meanwhile, with its file perhaps: nobody to tell
                summary_failed = False
            else:
                summary_failed = True
            with ignoring_gone():
                TaskRepository(conn).fail(run.task_id, message[:2000])
            if summary_failed:
                run.notify(conn, job.owner, "summary failed", message[:500], kind="error", media_file_id=job.file_id)


generate_summary = job_function(GenerateSummary())


def _ask(run: JobRun, source: SummaryInput) -> SummaryResult:
    try:
        return summarize(source.settings, source.prompt_text, source.transcript, source.speakers)
    except (LlmError, SummaryError):
        raise
    except Exception as exc:  # a bad configuration can make the HTTP client itself raise (e.g. a non-ASCII key)
        log.exception("summary %s: unexpected error from the LLM client", run.subject_id)
        message = redact(f"the LLM request failed: {type(exc).__name__}: {exc}", source.settings.api_key)
        raise JobFailed(message, "llm") from None


def _prepare(context: JobContext, summary_id: int) -> SummaryInput:
    """What the LLM is asked, read in a transaction of its own (none stays open during the call)."""
    with context.db.transaction() as conn:
        summary = SummaryRepository(conn).get_by_id(summary_id)
        owner = Actor(summary.user_id)
        media = MediaFileRepository(conn).get_by_id(summary.media_file_id)
        configs = LlmConfigRepository(conn, context.master_key)
        if summary.llm_configuration_id is None:
            raise JobFailed("the LLM configuration of this summary was deleted", "configuration")
        config = configs.get_by_id(summary.llm_configuration_id)
        api_key = configs.api_key(owner, config.uuid)
        prompts = PromptRepository(conn)
        prompt = prompts.get_by_id(summary.prompt_id) if summary.prompt_id else prompts.active(owner)
        segments = SegmentRepository(conn).transcript(owner, media.uuid)
    if not segments:
        raise JobFailed("the file has no transcript to summarise")
    names = {s.speaker_label: s.speaker_name or s.speaker_label for s in segments if s.speaker_label}
    stats = [
        SpeakerStats(names.get(label, label), v["talk_time"], v["words"], v["turns"])
        for label, v in analytics.speaker_stats(segments).items()
    ]
    _guard(context, llm_clients.endpoint_of(config))
    settings = llm_clients.settings_of(config, api_key, context.settings.opentr_llm_timeout_seconds)
    return SummaryInput(
        settings,
        prompt.prompt_text,
        format_transcript((s.start_time, s.speaker_name, s.text) for s in segments),
        format_speaker_data(stats),
    )


def _guard(context: JobContext, base_url: str | None) -> None:
    """With OPENTR_LLM_ALLOW_PRIVATE=0, checked again at use: a name may resolve elsewhere than when it was saved."""
    try:
        llm_clients.check_allowed(base_url, context.settings.llm_allowance)
    except BlockedUrl as exc:
        raise Invalid(f"base_url: {exc}", "base_url") from None
