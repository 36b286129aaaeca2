"""The skeleton of every run of an LLM over a transcript (jobs/llm_runs.py's kinds), on workers/jobrun.py's.

A kind's module writes an `LlmWork`: `prepare` reads what it needs in a transaction (none stays open during a
request), `produce` asks the LLM (through a `MeteredLlm`: limit-checked, recorded, cancellable) and reports its
progress, `store` writes the result in the transaction that completes the run. So a run ends completed with all of
its result, or failed / cancelled with none of it: nothing is half-stored.

`open_llm` is also what the summary job asks its LLM through (workers/summary_job.py).
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Generic, TypeVar
from uuid import UUID

from credentials.sealing import DecryptionError
from jobs.llm_runs import TITLES
from jobs.outages import database_unavailable
from jobs.registry import JobKind, ignoring_gone
from llm import clients as llm_clients
from llm.chunking import TranscriptTooLong
from llm.clients import LlmAnswer, LlmError
from llm.context import context_window
from llm.metered import LlmCancelled, MeteredLlm
from llm.structured import StructuredAnswerError
from outbound.addresses import BlockedUrl
from repo.database import Connection, Database
from repo.errors import Conflict, DataError, Invalid, NotFound
from repo.llm_configs import LlmConfigRepository
from repo.llm_runs import LlmRun, LlmRunRepository
from repo.llm_usage import LlmUsageRepository, Purpose, estimate_tokens
from repo.media_files import MediaFileRepository
from repo.rows import Actor
from repo.tasks import TaskRepository
from workers.context import JobContext
from workers.jobrun import FIRST_WAIT_SECONDS, LONGEST_WAIT_SECONDS, Failure, JobBody, JobFailed, JobRun
from workers.steps import JobCancelled

log = logging.getLogger("opentr.jobs.llm")
Source = TypeVar("Source")
Result = TypeVar("Result")
Progress = Callable[[float, str], None]


@dataclass
class DatabaseMeter:
    """llm/metered.py's Meter, written to the ledger: the requester's limit before, the cost after (and the run's
    totals, for a run), and the run's cancel flag (or, for a summary, `stop`: whether its requester asked to stop)."""

    db: Database
    user_id: int
    purpose: Purpose
    subject: UUID | None
    provider: str
    model_name: str
    run_id: int | None = None
    stop: Callable[[], bool] | None = None

    def before(self, system_prompt: str, user_prompt: str) -> None:
        wanted = estimate_tokens(system_prompt, user_prompt)

        def check() -> None:
            with self.db.transaction() as conn:
                LlmUsageRepository(conn).require_room(self.user_id, wanted)

        self._through_outages(check, "check the daily token limit")

    def after(self, answer: LlmAnswer, system_prompt: str, user_prompt: str) -> None:
        def record() -> None:
            with self.db.transaction() as conn:
                LlmUsageRepository(conn).record(
                    self.user_id,
                    self.purpose,
                    self.subject,
                    self.provider,
                    self.model_name,
                    answer.input_tokens,
                    answer.output_tokens,
                    answer.latency_ms,
                    sent_text=system_prompt + user_prompt,
                    answer_text=answer.text,
                )
                if self.run_id is not None:
                    sent = estimate_tokens(system_prompt, user_prompt)
                    spent_in = answer.input_tokens if answer.input_tokens is not None else sent
                    spent_out = (
                        answer.output_tokens if answer.output_tokens is not None else estimate_tokens(answer.text)
                    )
                    LlmRunRepository(conn).count_request(self.run_id, spent_in, spent_out)

        self._through_outages(record, "record what the answer cost")

    def stop_requested(self) -> bool:
        """Whether the requester asked to stop; False while the database cannot tell (asked again shortly)."""
        try:
            return self._asked_to_stop()
        except Exception as exc:
            if database_unavailable(exc):
                return False
            raise

    def _asked_to_stop(self) -> bool:
        if self.stop is not None:
            return self.stop()
        if self.run_id is None:
            return False
        with self.db.transaction() as conn:
            run = LlmRunRepository(conn).get_by_id(self.run_id)
        return run.cancel_requested or run.status != "processing"

    def _through_outages(self, write: Callable[[], None], what: str) -> None:
        """`write()`, again after waiting as long as the database is unavailable. Not the run skeleton's way (run
        the job again from its start): the requests already answered were paid for, and would be asked again."""
        delay, told = FIRST_WAIT_SECONDS, False
        while True:
            try:
                return write()
            except Exception as exc:
                if not database_unavailable(exc):
                    raise
                if not told:
                    log.warning("%s %s: the database is unavailable; waiting to %s", self.purpose, self.subject, what)
                    told = True
            time.sleep(delay)
            delay = min(delay * 2, LONGEST_WAIT_SECONDS)


def open_llm(
    context: JobContext, owner: Actor, config_id: int | None, meter: Callable[[str, str], DatabaseMeter]
) -> MeteredLlm:
    """The configuration's LLM, metered by `meter(provider, model_name)`; JobFailed when the configuration is gone.

    The configuration is read in a transaction of its own, and the server asked for its context window after it
    has ended (no transaction waits on another server). With OPENTR_LLM_ALLOW_PRIVATE=0 its address is checked
    again here: a name may resolve elsewhere than when it was saved."""
    if config_id is None:
        raise JobFailed("the LLM configuration it was requested with was deleted", "configuration")
    with context.db.transaction() as conn:
        configs = LlmConfigRepository(conn, context.master_key)
        config = configs.get_by_id(config_id)
        api_key = configs.api_key(owner, config.uuid)
    try:
        llm_clients.check_allowed(llm_clients.endpoint_of(config), context.settings.llm_allowance)
    except BlockedUrl as exc:
        raise Invalid(f"base_url: {exc}", "base_url") from None
    settings = llm_clients.settings_of(config, api_key, context.settings.opentr_llm_timeout_seconds)
    window = context_window(settings, config.context_tokens)
    return MeteredLlm(settings, window.tokens, meter(config.provider, config.model_name))


def told_of(failure: Failure) -> tuple[str, str | None]:
    """What a failed LLM job tells its requester (an error's own sentence where it has one: a model quoted, a
    transcript too long), and the model's raw answers to keep with the failure (None: nothing was answered)."""
    error = failure.error
    said = getattr(error, "message", None)
    raw = error.raw_response if isinstance(error, StructuredAnswerError) else None
    return (said if isinstance(said, str) and said else failure.message), raw


class LlmWork(ABC, Generic[Source, Result]):
    """One kind's part of a run (module docstring)."""

    kind: ClassVar[JobKind]

    @abstractmethod
    def prepare(self, conn: Connection, run: LlmRun) -> Source:
        """What the LLM is to be asked about, read as the requester; JobFailed when there is nothing to ask about."""

    @abstractmethod
    def produce(self, llm: MeteredLlm, source: Source, progress: Progress) -> Result:
        """Ask; call `progress(fraction, step)` between requests (it raises when the requester asked to stop)."""

    @abstractmethod
    def store(self, conn: Connection, run: LlmRun, result: Result) -> str:
        """Write the result in the run's completing transaction; return what the requester is told."""


@dataclass
class RunJob:
    run: LlmRun
    filename: str


class LlmRunBody(JobBody[RunJob], Generic[Source, Result]):
    expected = {
        DataError: "data",
        DecryptionError: "configuration",
        LlmError: "llm",
        StructuredAnswerError: "llm",
        TranscriptTooLong: "input",
    }
    acts_as_file_owner = False  # the requester: their LLM configuration and their tokens

    def __init__(self, work: LlmWork[Source, Result]) -> None:
        self.work_of_kind = work
        self.kind = work.kind  # type: ignore[misc]  # a ClassVar of JobBody, set per instance: one body per kind

    def claim(self, run: JobRun, conn: Connection) -> RunJob:
        started = LlmRunRepository(conn).start(run.subject_id)
        return RunJob(started, MediaFileRepository(conn).get_by_id(started.media_file_id).filename)

    def started(self, run: JobRun, conn: Connection, job: RunJob) -> None:
        run.report(conn, job.run.user_id, 0.02, TITLES[job.run.kind], media_file_id=job.run.media_file_id)

    def work(self, run: JobRun, job: RunJob) -> None:
        record = job.run
        owner = Actor(record.user_id)
        with run.db.transaction() as conn:
            source = self.work_of_kind.prepare(conn, record)

        def meter(provider: str, model_name: str) -> DatabaseMeter:
            purpose: Purpose = record.kind  # type: ignore[assignment]  # the run kinds are purposes too
            return DatabaseMeter(run.db, owner.id, purpose, record.uuid, provider, model_name, record.id)

        llm = open_llm(run.context, owner, record.llm_configuration_id, meter)

        def progress(fraction: float, step: str) -> None:
            with run.db.transaction() as conn:
                try:
                    stop = LlmRunRepository(conn).progress(record.id, fraction)
                except NotFound:
                    raise JobCancelled(step) from None
                if stop:
                    raise JobCancelled(step)
                run.report(conn, owner.id, fraction, f"{TITLES[record.kind]}: {step}", record.media_file_id)

        try:
            result = self.work_of_kind.produce(llm, source, progress)
        except LlmCancelled as exc:
            raise JobCancelled(str(exc)) from None
        except StructuredAnswerError:
            raise
        with run.db.transaction() as conn:
            message = self.work_of_kind.store(conn, record, result)
            LlmRunRepository(conn).complete(record.id, llm.raw_response())
            with ignoring_gone():  # recovery may have closed a task it took for dead: the result still counts
                TaskRepository(conn).complete(run.task_id)
            run.notify(
                conn,
                owner.id,
                f"{job.filename}: {TITLES[record.kind]} ready",
                message[:500],
                media_file_id=record.media_file_id,
            )

    def fail(self, run: JobRun, job: RunJob, failure: Failure) -> None:
        message, raw = told_of(failure)
        with run.db.transaction() as conn:
            try:
                LlmRunRepository(conn).fail(run.subject_id, message[:4000], raw)
            except (Conflict, NotFound):  # deleted meanwhile, with its file perhaps: nobody to tell
                ended = False
            else:
                ended = True
            with ignoring_gone():
                TaskRepository(conn).fail(run.task_id, message[:2000])
            if ended:
                run.notify(
                    conn,
                    job.run.user_id,
                    f"{TITLES[job.run.kind]} failed",
                    message[:500],
                    kind="error",
                    media_file_id=job.run.media_file_id,
                )

    def cancelled(self, run: JobRun, job: RunJob) -> None:
        with run.db.transaction() as conn:
            with ignoring_gone():
                LlmRunRepository(conn).cancelled(run.subject_id)
            with ignoring_gone():
                TaskRepository(conn).cancel(run.task_id)
