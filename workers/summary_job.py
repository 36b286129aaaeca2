"""`generate_summary(summary_id, task_id)`, the `summarization` kind (jobs/summaries.py): the requester's LLM turns
the transcript into a summary in the shape of its prompt (workers/summarizer.py), run by the skeleton of
workers/jobrun.py.

The LLM is asked through workers/llm_run.py's `open_llm` and `DatabaseMeter` (purpose "summary", the summary's uuid as
subject): each request is checked against its requester's daily token limit, recorded in the ledger, and abandoned
within a second when the summary is cancelled. The requests go outside any transaction; the outcome (completed with
all of its answer, or failed with the reason and the raw answers, or cancelled with nothing) is stored in one
transaction afterwards, so a summary is never half-stored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from credentials.sealing import DecryptionError
from jobs.registry import ignoring_gone
from jobs.summaries import SUMMARY
from llm.chunking import TranscriptTooLong
from llm.clients import LlmAnswer, LlmError
from llm.metered import LlmCancelled, Meter, MeteredLlm
from llm.structured import StructuredAnswerError
from outbound.retries import redact
from repo.database import Connection
from repo.errors import Conflict, DataError, NotFound
from repo.media_files import MediaFileRepository
from repo.prompts import PromptRepository
from repo.rows import Actor
from repo.segments import SegmentRepository
from repo.summaries import Summary, SummaryRepository
from repo.tasks import TaskRepository
from workers import analytics
from workers.jobrun import Failure, JobBody, JobFailed, JobRun, job_function
from workers.llm_run import DatabaseMeter, open_llm, told_of
from workers.steps import JobCancelled
from workers.summarizer import (
    Shape,
    SpeakerStats,
    SummaryError,
    SummaryResult,
    format_speaker_data,
    format_transcript,
    summarize,
)

log = logging.getLogger("opentr.jobs.summary")


@dataclass
class Counted:
    """A Meter that also totals the tokens the server reported (None while it reported none), for the summary row."""

    inner: Meter
    input_tokens: int | None = None
    output_tokens: int | None = None

    def before(self, system_prompt: str, user_prompt: str) -> None:
        self.inner.before(system_prompt, user_prompt)

    def after(self, answer: LlmAnswer, system_prompt: str, user_prompt: str) -> None:
        self.inner.after(answer, system_prompt, user_prompt)
        if answer.input_tokens is not None:
            self.input_tokens = (self.input_tokens or 0) + answer.input_tokens
        if answer.output_tokens is not None:
            self.output_tokens = (self.output_tokens or 0) + answer.output_tokens

    def stop_requested(self) -> bool:
        return self.inner.stop_requested()


@dataclass
class Answered:
    result: SummaryResult
    input_tokens: int | None
    output_tokens: int | None


@dataclass
class SummaryJob:
    owner: int
    file_id: int
    filename: str
    answer: Answered | None = None  # kept when storing it must wait for the database: asked once, paid once


@dataclass(frozen=True)
class SummaryInput:
    llm: MeteredLlm
    meter: Counted
    shape: Shape
    prompt_text: str
    language: str | None
    transcript: list[str]
    speakers: str


class GenerateSummary(JobBody[SummaryJob]):
    """Ends the summary and its task in a final state whatever happens; only a dead worker leaves them to recovery
    (which sees the job's lock gone)."""

    kind = SUMMARY
    expected = {
        DataError: "data",  # TokenLimitReached among them: the daily limit, with when it resets
        DecryptionError: "configuration",
        LlmError: "llm",
        SummaryError: "llm",
        StructuredAnswerError: "llm",
        TranscriptTooLong: "input",
    }
    acts_as_file_owner = False  # the requester: their LLM configuration, on a file they may see

    def claim(self, run: JobRun, conn: Connection) -> SummaryJob:
        summary = SummaryRepository(conn).start(run.subject_id)
        media = MediaFileRepository(conn).get_by_id(summary.media_file_id)
        return SummaryJob(summary.user_id, media.id, media.filename)

    def started(self, run: JobRun, conn: Connection, job: SummaryJob) -> None:
        run.report(conn, job.owner, 0.1, "summarising", media_file_id=job.file_id)

    def work(self, run: JobRun, job: SummaryJob) -> None:
        if job.answer is None:
            job.answer = _ask(run, job)
        answered = job.answer
        result = answered.result
        bluf = result.bluf
        with run.db.transaction() as conn:
            summaries = SummaryRepository(conn)
            try:
                summaries.complete(
                    run.subject_id,
                    bluf.bluf if bluf else None,
                    bluf.brief_summary if bluf else None,
                    bluf.major_topics if bluf else [],
                    bluf.action_items if bluf else [],
                    bluf.key_decisions if bluf else [],
                    bluf.follow_up_items if bluf else [],
                    result.raw_response,
                    answered.input_tokens,
                    answered.output_tokens,
                    result.processing_ms,
                    content=result.content,
                    markdown=result.markdown,
                )
            except Conflict:
                if summaries.stop_requested(run.subject_id) and summaries.get_by_id(run.subject_id).cancel_requested:
                    raise JobCancelled("summary") from None  # cancelled after the last answer came: not stored
                raise
            with ignoring_gone():  # recovery may have closed a task it took for dead: the summary still counts
                TaskRepository(conn).complete(run.task_id)
            run.notify(conn, job.owner, f"{job.filename}: summary ready", _headline(result), media_file_id=job.file_id)

    def fail(self, run: JobRun, job: SummaryJob, failure: Failure) -> None:
        message, raw = told_of(failure)
        with run.db.transaction() as conn:
            try:
                SummaryRepository(conn).fail(run.subject_id, message[:4000], raw)
            except (Conflict, NotFound):  # deleted meanwhile, with its file perhaps: nobody to tell
                summary_failed = False
            else:
                summary_failed = True
            with ignoring_gone():
                TaskRepository(conn).fail(run.task_id, message[:2000])
            if summary_failed:
                run.notify(conn, job.owner, "summary failed", message[:500], kind="error", media_file_id=job.file_id)

    def cancelled(self, run: JobRun, job: SummaryJob) -> None:
        with run.db.transaction() as conn:
            with ignoring_gone():
                SummaryRepository(conn).cancelled(run.subject_id)
            with ignoring_gone():
                TaskRepository(conn).cancel(run.task_id)


generate_summary = job_function(GenerateSummary())


def _headline(result: SummaryResult) -> str:
    if result.bluf is not None:
        return result.bluf.bluf[:300]
    if result.markdown is not None:
        return " ".join(result.markdown.split())[:300]
    return f"a summary in the prompt's JSON shape ({len(result.content or {})} fields)"


def _ask(run: JobRun, job: SummaryJob) -> Answered:
    source = _prepare(run, job)

    def progress(fraction: float, step: str) -> None:
        with run.db.transaction() as conn:
            run.report(conn, job.owner, fraction, f"summarising: {step}", media_file_id=job.file_id)

    try:
        result = summarize(
            source.llm,
            source.shape,
            source.prompt_text,
            source.transcript,
            source.speakers,
            source.language,
            progress,
        )
    except LlmCancelled as exc:
        raise JobCancelled(str(exc)) from None
    except (LlmError, SummaryError, StructuredAnswerError, TranscriptTooLong, DataError):
        raise
    except Exception as exc:  # a bad configuration can make the HTTP client itself raise (e.g. a non-ASCII key)
        log.exception("summary %s: unexpected error from the LLM client", run.subject_id)
        message = redact(f"the LLM request failed: {type(exc).__name__}: {exc}", source.llm.settings.api_key)
        raise JobFailed(message, "llm") from None
    return Answered(result, source.meter.input_tokens, source.meter.output_tokens)


def _prepare(run: JobRun, job: SummaryJob) -> SummaryInput:
    """What the LLM is asked, read in a transaction of its own (none stays open during a request)."""
    summary_id = run.subject_id

    def stop() -> bool:
        with run.db.transaction() as conn:
            return SummaryRepository(conn).stop_requested(summary_id)

    with run.db.transaction() as conn:
        summary = SummaryRepository(conn).get_by_id(summary_id)
        owner = Actor(summary.user_id)
        if summary.llm_configuration_id is None:
            raise JobFailed("the LLM configuration of this summary was deleted", "configuration")
        prompts = PromptRepository(conn)
        prompt = prompts.get_by_id(summary.prompt_id) if summary.prompt_id else prompts.active(owner)
        shape = _shape(summary, prompt.output_format, prompt.output_schema)
        media = MediaFileRepository(conn).get_by_id(summary.media_file_id)
        segments = SegmentRepository(conn).transcript(owner, media.uuid)
        if not segments:
            raise JobFailed("the file has no transcript to summarise")

    def meter(provider: str, model_name: str) -> DatabaseMeter:
        return DatabaseMeter(run.db, owner.id, "summary", summary.uuid, provider, model_name, stop=stop)

    llm = open_llm(run.context, owner, summary.llm_configuration_id, meter)
    counted = Counted(llm.meter)
    llm.meter = counted
    names = {s.speaker_label: s.speaker_name or s.speaker_label for s in segments if s.speaker_label}
    stats = [
        SpeakerStats(names.get(label, label), v["talk_time"], v["words"], v["turns"])
        for label, v in analytics.speaker_stats(segments).items()
    ]
    return SummaryInput(
        llm,
        counted,
        shape,
        prompt.prompt_text,
        summary.language,
        format_transcript((s.start_time, s.speaker_name, s.text) for s in segments),
        format_speaker_data(stats),
    )


def _shape(summary: Summary, prompt_format: str, prompt_schema: dict[str, object] | None) -> Shape:
    """The shape the summary was requested in; a json summary takes its prompt's schema as it is now."""
    if summary.output_format == "json":
        if prompt_format != "json" or prompt_schema is None:
            raise JobFailed("the prompt of this summary no longer has a JSON Schema; request the summary again")
        return Shape("json", dict(prompt_schema))
    return Shape(summary.output_format)
