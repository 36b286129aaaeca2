"""A file's processing choices (`transcript.choices.Choices`), stored with it so a re-run repeats them, and the one
stage a queued media job is to redo (`rerun_stage`; None: the whole pipeline)."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from repo import statements as s
from repo.database import Connection
from repo.rows import Actor
from transcript.choices import Choices, MediaStage, Task


@dataclass(frozen=True, slots=True)
class _Row:
    model: str | None
    language: str | None
    task: Task
    vocabulary: str | None
    diarization: bool
    summary: bool
    summary_prompt_id: int | None
    rerun_stage: MediaStage | None

    def choices(self) -> Choices:
        return Choices(
            self.model,
            self.language,
            self.task,
            self.vocabulary,
            self.diarization,
            self.summary,
            self.summary_prompt_id,
        )


@dataclass(frozen=True, slots=True)
class _Shown(_Row):
    summary_prompt_uuid: UUID | None


@dataclass(frozen=True, slots=True)
class StoredChoices:
    """What a job reads: the choices (None: none stored, use the owner's defaults) and the stage to redo."""

    choices: Choices | None
    stage: MediaStage | None


@dataclass(frozen=True, slots=True)
class ShownChoices:
    """What the API shows: the choices and the uuid of the chosen prompt (None: the active one)."""

    choices: Choices
    summary_prompt_uuid: UUID | None
    stored: bool


@dataclass(frozen=True, slots=True)
class StageInputs:
    segments: int
    voices: int


_store = s.execute("processing_choices.store")
_for_job = s.one_or_none("processing_choices.for_job", _Row)
_for_file = s.one_or_none("processing_choices.for_file", _Shown)
_finish_stage = s.execute("processing_choices.finish_stage")
_stage_inputs = s.one("processing_choices.stage_inputs", StageInputs)


class ProcessingChoicesRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def store(self, file_id: int, choices: Choices, stage: MediaStage | None = None) -> None:
        """The choices of the file's next run (replacing those of the last), and the one stage it redoes."""
        _store(
            self.conn,
            file_id=file_id,
            model=choices.model,
            language=choices.language,
            task=choices.task,
            vocabulary=choices.vocabulary,
            diarization=choices.diarization,
            summary=choices.summary,
            summary_prompt_id=choices.summary_prompt_id,
            stage=stage,
        )

    def for_job(self, file_id: int) -> StoredChoices:
        """Workers: the file's stored choices and stage."""
        row = _for_job(self.conn, file_id=file_id)
        return StoredChoices(None, None) if row is None else StoredChoices(row.choices(), row.rerun_stage)

    def for_file(self, actor: Actor, uuid: UUID) -> ShownChoices:
        """The choices of a file the actor may read (the defaults, `stored` False, for a file without any)."""
        row = _for_file(self.conn, uuid=uuid, **actor.scope())
        if row is None:
            return ShownChoices(Choices(), None, False)
        return ShownChoices(row.choices(), row.summary_prompt_uuid, True)

    def finish_stage(self, file_id: int) -> None:
        _finish_stage(self.conn, file_id=file_id)

    def stage_inputs(self, file_id: int) -> StageInputs:
        """How many segments the file's transcript has, and how many of its speakers have a stored voice."""
        return _stage_inputs(self.conn, file_id=file_id)
