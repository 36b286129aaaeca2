"""AI summaries of media files: several versions per file, each moving pending → processing → completed | failed |
cancelled, in the shape its prompt declared (`output_format`: the BLUF fields, a JSON `content`, or `markdown`).

Every transition is a guarded UPDATE that also keeps media_files.summary_status in step (when the summary is the
file's newest version) in the same statement; a transition from the wrong state is a Conflict.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from uuid import UUID

from psycopg.types.json import Jsonb

from repo import access
from repo import statements as s
from repo.database import Connection
from repo.errors import Conflict, Invalid, NotFound
from repo.jobs import JobSubject
from repo.rows import Actor

STARTABLE: Final = ["pending"]
# "failed" too: recovery may give up on a job that was only slow to report; its answer, when it comes, wins.
COMPLETABLE: Final = ["processing", "failed"]
FAILABLE: Final = ["pending", "processing"]


@dataclass(frozen=True, slots=True)
class Summary:
    id: int
    uuid: UUID
    media_file_id: int
    user_id: int
    prompt_id: int | None
    llm_configuration_id: int | None
    provider: str | None
    model_name: str | None
    version: int
    status: str
    output_format: str
    language: str | None
    bluf: str | None
    brief_summary: str | None
    major_topics: list[Any]
    action_items: list[Any]
    key_decisions: list[Any]
    follow_up_items: list[Any]
    content: dict[str, Any] | None
    markdown: str | None
    raw_response: str | None
    error_message: str | None
    input_tokens: int | None
    output_tokens: int | None
    processing_ms: int | None
    cancel_requested: bool
    started_at: datetime | None
    completed_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class LockedFile:
    id: int
    user_id: int


@dataclass(frozen=True, slots=True)
class FileRef:
    id: int


@dataclass(frozen=True, slots=True)
class _Stop:
    stop: bool


@dataclass(frozen=True, slots=True)
class _Deleted:
    status: str
    deleted: bool


_lock_file = s.one_or_none("summaries.lock_file", LockedFile)
_create_pending = s.one_or_none("summaries.create_pending", Summary)
_start = s.one_or_none("summaries.start", Summary)
_complete = s.one_or_none("summaries.complete", Summary)
_fail = s.one_or_none("summaries.fail", Summary)
_cancelled = s.one_or_none("summaries.cancelled", Summary)
_request_cancel = s.one_or_none("summaries.request_cancel", Summary)
_stop_requested = s.one_or_none("summaries.stop_requested", _Stop)
_file_visible = s.one_or_none("summaries.file_visible", FileRef)
_list_for_file = s.many("summaries.list_for_file", Summary)
_get = s.one_or_none("summaries.get", Summary)
_get_by_id = s.one_or_none("summaries.get_by_id", Summary)
_delete = s.one_or_none("summaries.delete", _Deleted)
# What a summary job works on (repo/jobs.py); its task id is task_id_for(uuid).
SUMMARY_SUBJECT = JobSubject("summaries")
BUSY = ["pending", "processing"]


def _as_actor(actor_or_owner: Actor | int) -> Actor:
    return actor_or_owner if isinstance(actor_or_owner, Actor) else Actor(actor_or_owner)


def _found(summary: Summary | None) -> Summary:
    if summary is None:
        raise NotFound("summary not found")
    return summary


def task_id_for(summary_uuid: UUID) -> str:
    """The job and task id of a summary; sql/summaries.sql finds a summary's tasks by this shape."""
    return f"summary-{summary_uuid}"


class SummaryRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def create_pending(
        self,
        actor_or_owner: Actor | int,
        file_id: int,
        prompt_id: int | None,
        llm_configuration_id: int | None,
        provider: str | None,
        model_name: str | None,
        output_format: str = "bluf",
        language: str | None = None,
    ) -> Summary:
        """A new pending version (previous max + 1). The file row is locked first, so concurrent requests for
        the same file queue and get consecutive versions instead of colliding on UNIQUE (file, version)."""
        actor = _as_actor(actor_or_owner)
        with self.conn.transaction():
            if _lock_file(self.conn, file_id=file_id, **actor.scope()) is None:
                access.require(self.conn, actor, access.EDITOR, file_id=file_id)  # 404 unseen, 403 below editor
                raise NotFound("file not found")
            created = _create_pending(
                self.conn,
                file_id=file_id,
                prompt_id=prompt_id,
                llm_configuration_id=llm_configuration_id,
                provider=provider,
                model_name=model_name,
                output_format=output_format,
                language=language,
                actor_id=actor.id,
            )
        if created is None:
            raise Invalid("the prompt or the LLM configuration is not available to this user", "prompt_id")
        return created

    def _transitioned(self, summary_id: int, changed: Summary | None, to: str) -> Summary:
        if changed is not None:
            return changed
        current = self.get_by_id(summary_id)
        raise Conflict(f"summary is {current.status}; it cannot become {to}", "status")

    def start(self, summary_id: int) -> Summary:
        changed = _start(self.conn, summary_id=summary_id, from_statuses=STARTABLE)
        return self._transitioned(summary_id, changed, "processing")

    def complete(
        self,
        summary_id: int,
        bluf: str | None,
        brief_summary: str | None,
        major_topics: list[Any],
        action_items: list[Any],
        key_decisions: list[Any],
        follow_up_items: list[Any],
        raw_response: str | None,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        processing_ms: int | None = None,
        *,
        content: dict[str, Any] | None = None,
        markdown: str | None = None,
    ) -> Summary:
        """Conflict when it is not processing (or was failed by recovery), or its requester asked to stop."""
        changed = _complete(
            self.conn,
            summary_id=summary_id,
            from_statuses=COMPLETABLE,
            bluf=bluf,
            brief_summary=brief_summary,
            major_topics=Jsonb(major_topics),
            action_items=Jsonb(action_items),
            key_decisions=Jsonb(key_decisions),
            follow_up_items=Jsonb(follow_up_items),
            content=Jsonb(content) if content is not None else None,
            markdown=markdown,
            raw_response=raw_response,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            processing_ms=processing_ms,
        )
        return self._transitioned(summary_id, changed, "completed")

    def fail(self, summary_id: int, error_message: str, raw_response: str | None = None) -> Summary:
        changed = _fail(
            self.conn,
            summary_id=summary_id,
            from_statuses=FAILABLE,
            error_message=error_message,
            raw_response=raw_response,
        )
        return self._transitioned(summary_id, changed, "failed")

    def cancelled(self, summary_id: int) -> Summary:
        """Its job stopped at its requester's wish; Conflict once it has ended otherwise."""
        return self._transitioned(summary_id, _cancelled(self.conn, summary_id=summary_id), "cancelled")

    def request_cancel(self, actor: Actor, uuid: UUID) -> Summary:
        """Stop a summary: a pending one is cancelled now, a processing one at its job's next check (within about a
        second). Conflict once it has ended; NotFound unseen; Forbidden below the editor role."""
        changed = _request_cancel(self.conn, uuid=uuid, **actor.scope())
        if changed is not None:
            return changed
        summary = self.get(actor, uuid)  # NotFound when unseen
        access.require(self.conn, actor, access.EDITOR, file_id=summary.media_file_id)
        raise Conflict(f"the summary has ended ({summary.status}); there is nothing to cancel", "status")

    def stop_requested(self, summary_id: int) -> bool:
        """Whether its job should stop: cancelled, or no longer processing (deleted with its file, say)."""
        found = _stop_requested(self.conn, summary_id=summary_id)
        return found is None or found.stop

    def list_for_file(self, actor: Actor, file_uuid: UUID, *, limit: int = 100) -> list[Summary]:
        """Newest version first; NotFound (not an empty list) when the file is not the actor's."""
        if _file_visible(self.conn, file_uuid=file_uuid, **actor.scope()) is None:
            raise NotFound("file not found")
        return _list_for_file(self.conn, file_uuid=file_uuid, limit=limit, **actor.scope())

    def get(self, actor: Actor, uuid: UUID) -> Summary:
        return _found(_get(self.conn, uuid=uuid, **actor.scope()))

    def get_by_id(self, summary_id: int) -> Summary:
        return _found(_get_by_id(self.conn, summary_id=summary_id))

    def delete(self, actor: Actor, uuid: UUID) -> None:
        """Delete one finished version; Conflict while it is pending or processing (its job would write to it)."""
        found = _delete(self.conn, uuid=uuid, busy=BUSY, **actor.scope())
        if found is None:
            access.require(self.conn, actor, access.EDITOR, what="summary", summary_uuid=uuid)
            raise NotFound("summary not found")
        if not found.deleted:
            raise Conflict(f"the summary is {found.status}; delete it once it has finished", "status")
