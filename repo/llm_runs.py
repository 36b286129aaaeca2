"""Runs of an LLM over one file's transcript: topics, proposed speaker names, a translation (migration 0021).

A run is requested by someone who may edit the file, with one of their own LLM configurations; it is seen by
whoever sees the file. It moves pending → processing → completed | failed | cancelled; each transition is a
guarded UPDATE, and one from the wrong state is a Conflict. Its results are rows of the kind's own table, children
of the run (deleting the run deletes them); what each of its requests cost is in the ledger (repo/llm_usage.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal, get_args
from uuid import UUID

from psycopg.types.json import Jsonb

from repo import access
from repo import statements as s
from repo.database import Connection
from repo.errors import Conflict, NotFound
from repo.jobs import JobSubject
from repo.rows import Actor

RunKind = Literal["topics", "speaker_names", "translation"]
RUN_KINDS: Final = frozenset(get_args(RunKind))
BUSY: Final = frozenset({"pending", "processing"})
# What a run's jobs work on (repo/jobs.py); its task id is task_id_for(kind, uuid).
LLM_RUN_SUBJECT = JobSubject("llm_runs")


@dataclass(frozen=True, slots=True)
class LlmRun:
    id: int
    uuid: UUID
    kind: str
    media_file_id: int
    user_id: int
    llm_configuration_id: int | None
    provider: str
    model_name: str
    language: str | None
    options: dict[str, Any]
    status: str
    cancel_requested: bool
    progress: float
    transcript_version: int | None
    requests: int
    input_tokens: int
    output_tokens: int
    error_message: str | None
    raw_response: str | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None


@dataclass(frozen=True, slots=True)
class _Progress:
    cancel_requested: bool


@dataclass(frozen=True, slots=True)
class _Deleted:
    status: str
    deleted: bool


_create = s.one_or_none("llm_runs.create", LlmRun)
_start = s.one_or_none("llm_runs.start", LlmRun)
_progress = s.one_or_none("llm_runs.progress", _Progress)
_count_request = s.rowcount("llm_runs.count_request")
_complete = s.one_or_none("llm_runs.complete", LlmRun)
_fail = s.one_or_none("llm_runs.fail", LlmRun)
_cancelled = s.one_or_none("llm_runs.cancelled", LlmRun)
_request_cancel = s.one_or_none("llm_runs.request_cancel", LlmRun)
_get = s.one_or_none("llm_runs.get", LlmRun)
_get_by_id = s.one_or_none("llm_runs.get_by_id", LlmRun)
_list_for_file = s.many("llm_runs.list_for_file", LlmRun)
_delete = s.one_or_none("llm_runs.delete", _Deleted)
_current_version = s.scalar("llm_runs.current_transcript_version", int)


def task_id_for(kind: str, run_uuid: UUID) -> str:
    """The job and task id of a run; sql/llm_runs.sql finds a run's tasks by this shape."""
    return f"{kind}-{run_uuid}"


def _found(run: LlmRun | None) -> LlmRun:
    if run is None:
        raise NotFound("run not found")
    return run


class LlmRunRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def create(
        self,
        actor: Actor,
        kind: RunKind,
        file_id: int,
        llm_configuration_id: int,
        *,
        language: str | None = None,
        options: dict[str, Any] | None = None,
    ) -> LlmRun:
        """A pending run on a file the actor may edit (404 unseen, 403 below editor), with their configuration."""
        access.require(self.conn, actor, access.EDITOR, file_id=file_id)
        created = _create(
            self.conn,
            kind=kind,
            file_id=file_id,
            llm_configuration_id=llm_configuration_id,
            language=language,
            options=Jsonb(options or {}),
            actor_id=actor.id,
        )
        if created is None:
            raise Conflict("the LLM configuration is not one of yours", "llm_config_uuid")
        return created

    def _moved(self, run_id: int, changed: LlmRun | None, to: str) -> LlmRun:
        if changed is not None:
            return changed
        current = self.get_by_id(run_id)
        raise Conflict(f"the run is {current.status}; it cannot become {to}", "status")

    def start(self, run_id: int) -> LlmRun:
        return self._moved(run_id, _start(self.conn, id=run_id), "processing")

    def progress(self, run_id: int, progress: float) -> bool:
        """Record progress; True when the requester asked to stop. NotFound when the run is no longer processing."""
        found = _progress(self.conn, id=run_id, progress=min(1.0, max(0.0, progress)))
        if found is None:
            raise NotFound("the run is no longer processing")
        return found.cancel_requested

    def count_request(self, run_id: int, input_tokens: int, output_tokens: int) -> None:
        _count_request(self.conn, id=run_id, input_tokens=input_tokens, output_tokens=output_tokens)

    def complete(self, run_id: int, raw_response: str | None) -> LlmRun:
        return self._moved(run_id, _complete(self.conn, id=run_id, raw_response=raw_response), "completed")

    def fail(self, run_id: int, error_message: str, raw_response: str | None = None) -> LlmRun:
        changed = _fail(self.conn, id=run_id, error_message=error_message, raw_response=raw_response)
        return self._moved(run_id, changed, "failed")

    def cancelled(self, run_id: int) -> LlmRun:
        return self._moved(run_id, _cancelled(self.conn, id=run_id), "cancelled")

    def request_cancel(self, actor: Actor, uuid: UUID) -> LlmRun:
        """Stop a run: a pending one is cancelled now, a processing one at its job's next check. Conflict once it
        has ended; NotFound when the actor cannot see it; Forbidden below the editor role (not the requester)."""
        changed = _request_cancel(self.conn, uuid=uuid, **actor.scope())
        if changed is not None:
            return changed
        run = self.get(actor, uuid)  # NotFound when unseen
        if run.user_id != actor.id:
            access.require(self.conn, actor, access.EDITOR, file_id=run.media_file_id)
        raise Conflict(f"the run has ended ({run.status}); there is nothing to cancel", "status")

    def get(self, actor: Actor, uuid: UUID) -> LlmRun:
        return _found(_get(self.conn, uuid=uuid, **actor.scope()))

    def get_by_id(self, run_id: int) -> LlmRun:
        return _found(_get_by_id(self.conn, id=run_id))

    def list_for_file(self, actor: Actor, file_uuid: UUID, kind: str | None = None, *, limit: int = 50) -> list[LlmRun]:
        return _list_for_file(self.conn, file_uuid=file_uuid, kind=kind, limit=limit, **actor.scope())

    def delete(self, actor: Actor, uuid: UUID) -> None:
        """Delete a finished run and its results; Conflict while it is pending or processing."""
        found = _delete(self.conn, uuid=uuid, **actor.scope())
        if found is None:
            run = self.get(actor, uuid)
            access.require(self.conn, actor, access.EDITOR, file_id=run.media_file_id)
            raise NotFound("run not found")
        if not found.deleted:
            raise Conflict(f"the run is {found.status}; delete it once it has ended", "status")

    def current_transcript_version(self, file_id: int) -> int:
        return _current_version(self.conn, file_id=file_id)
