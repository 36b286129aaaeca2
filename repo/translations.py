"""A transcript translated by an LLM (migration 0025): the texts of a run of kind `translation`, one per segment.

A translation is a run (repo/llm_runs.py: its language, state, costs, whether the transcript changed since) plus
the rows written here, all in the transaction that completes it. It is read side by side with the transcript:
the segment's times, speaker and original text are the segment's own, so subtitles in the translated language keep
the original timings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from repo import statements as s
from repo.database import Connection
from repo.errors import NotFound
from repo.llm_runs import LlmRun, LlmRunRepository
from repo.rows import Actor

KIND = "translation"


@dataclass(frozen=True, slots=True)
class SideBySide:
    """One segment of the transcript and its translation (None: the segment was added after the run read it)."""

    segment_uuid: UUID
    start_time: float
    end_time: float
    speaker_name: str | None
    original: str
    translated: str | None


_store = s.rowcount("translations.store")
_side_by_side = s.many("translations.side_by_side", SideBySide)
_count = s.scalar("translations.count", int)


class TranslationRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def store(self, run_id: int, texts: Sequence[tuple[UUID, str]]) -> int:
        """The run's translated texts by segment uuid (written by its job, in the run's completing transaction);
        returns how many segments still exist to hold one."""
        return _store(
            self.conn,
            run_id=run_id,
            segment_uuids=[uuid for uuid, _ in texts],
            texts=[text for _, text in texts],
        )

    def run(self, actor: Actor, run_uuid: UUID) -> LlmRun:
        """The translation run the actor may see; NotFound for another kind's run, as for one they cannot see."""
        run = LlmRunRepository(self.conn).get(actor, run_uuid)
        if run.kind != KIND:
            raise NotFound("translation not found")
        return run

    def side_by_side(self, actor: Actor, run_uuid: UUID) -> list[SideBySide]:
        return _side_by_side(self.conn, run_uuid=run_uuid, **actor.scope())

    def count(self, run_id: int) -> int:
        return _count(self.conn, run_id=run_id)
