"""Speaker names a language model proposed from what was said (migration 0024): "Thanks, Maria" → SPEAKER_01 may
be Maria, with the quotes it rests on and a confidence.

A proposal is a row of a `speaker_names` run (repo/llm_runs.py), written when the run completes
(workers/speaker_names_job.py) and never applied by itself: an editor of the file accepts it, which names the
speaker as accepting a suggested name does (and, asked to, remembers the voice under that name as
SpeakerRepository.remember does), or rejects it. Each is decided once: deciding it again is a Conflict naming its
status. Accepting one leaves the speaker's other proposals open; the speaker simply has its name now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal
from uuid import UUID

from psycopg.types.json import Jsonb

from repo import access
from repo import statements as s
from repo.database import Connection
from repo.errors import Conflict, NotFound
from repo.rows import Actor
from repo.speakers import SpeakerRepository

Decision = Literal["accepted", "rejected"]
MAX_NAME_LENGTH: Final = 200  # as a speaker's display name


@dataclass(frozen=True, slots=True)
class Evidence:
    segment_uuid: UUID
    start_time: float
    quote: str  # as the transcript says it (checked to occur in that segment)


@dataclass(frozen=True, slots=True)
class NewProposal:
    speaker_uuid: UUID
    name: str
    confidence: float
    evidence: list[Evidence]


@dataclass(frozen=True, slots=True)
class Proposal:
    id: int
    uuid: UUID
    run_uuid: UUID
    media_file_uuid: UUID
    speaker_uuid: UUID
    speaker_label: str
    speaker_name: str | None  # the speaker's display name now (perhaps this proposal's, once accepted)
    name: str
    confidence: float
    evidence: list[dict[str, Any]]  # [{segment_uuid, start_time, quote}]
    status: str  # proposed | accepted | rejected
    decided_by_uuid: UUID | None
    decided_at: datetime | None
    created_at: datetime


_create_many = s.rowcount("speaker_name_proposals.create_many")
_of_run = s.many("speaker_name_proposals.of_run", Proposal)
_get = s.one_or_none("speaker_name_proposals.get", Proposal)
_decide = s.one_or_none("speaker_name_proposals.decide", Proposal)


class SpeakerNameProposalRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def create_many(self, run_id: int, proposals: list[NewProposal]) -> int:
        """The run's proposals (its job writes them as it completes); returns how many were stored."""
        if not proposals:
            return 0
        rows = [
            {
                "speaker_uuid": str(p.speaker_uuid),
                "name": p.name,
                "confidence": p.confidence,
                "evidence": [
                    {"segment_uuid": str(e.segment_uuid), "start_time": e.start_time, "quote": e.quote}
                    for e in p.evidence
                ],
            }
            for p in proposals
        ]
        return _create_many(self.conn, run_id=run_id, proposals=Jsonb(rows))

    def of_run(self, actor: Actor, run_uuid: UUID) -> list[Proposal]:
        return _of_run(self.conn, run_uuid=run_uuid, **actor.scope())

    def get(self, actor: Actor, uuid: UUID) -> Proposal:
        found = _get(self.conn, uuid=uuid, **actor.scope())
        if found is None:
            raise NotFound("speaker name proposal not found")
        return found

    def accept(self, actor: Actor, uuid: UUID, *, remember: bool = False) -> Proposal:
        """The speaker is called this: it takes the name (as accepting a suggested name does); with `remember`, the
        file owner's profile of that name also learns the voice ("remember this voice", SpeakerRepository)."""
        with self.conn.transaction():
            decided = self._decide(actor, uuid, "accepted")
            speakers = SpeakerRepository(self.conn)
            speakers.update(actor, decided.speaker_uuid, display_name=decided.name)
            if remember:
                speakers.remember(actor, decided.speaker_uuid, decided.name)
            return self.get(actor, uuid)

    def reject(self, actor: Actor, uuid: UUID) -> Proposal:
        """The speaker is not called this; nothing else changes."""
        with self.conn.transaction():
            return self._decide(actor, uuid, "rejected")

    def _decide(self, actor: Actor, uuid: UUID, status: Decision) -> Proposal:
        decided = _decide(self.conn, uuid=uuid, status=status, **actor.scope())
        if decided is not None:
            return decided
        found = self.get(actor, uuid)  # NotFound when its file is unseen
        access.require(self.conn, actor, access.EDITOR, what="speaker", speaker_uuid=found.speaker_uuid)
        raise Conflict(f"the proposal is {found.status} already; it can be decided once", "status")
