"""Speaker names proposed by a language model from what was said ("Thanks, Maria" → SPEAKER_01 may be Maria): ask
for them (a `speaker_names` run, web/llm_runs.py), read the newest run's proposals with their quoted evidence and
confidence, accept one (the speaker takes the name; `remember` also lets the profile of that name learn the voice)
or reject it. Nothing is named until someone accepts.

Following, cancelling and deleting a run, and its costs, are web/llm_runs.py's generic routes.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from repo.errors import Conflict
from repo.llm_runs import LlmRun, LlmRunRepository
from repo.media_files import MediaFileRepository
from repo.speaker_name_proposals import Proposal, SpeakerNameProposalRepository
from web.endpoint import Ctx, Router
from web.llm_runs import RUN_RAISES, LlmRunOut, RunRequestIn, request_run, run_out

router = Router("speaker names")


class EvidenceOut(BaseModel):
    segment_uuid: UUID
    start_time: float = Field(description="where the quote is said, in seconds")
    quote: str = Field(description="as the transcript has it (checked to occur there)")


class ProposalOut(BaseModel):
    uuid: UUID
    run_uuid: UUID
    speaker_uuid: UUID
    speaker_label: str
    speaker_name: str | None = Field(description="the speaker's display name now")
    name: str = Field(description="the name proposed")
    confidence: float = Field(ge=0, le=1)
    evidence: list[EvidenceOut]
    status: str = Field(description="proposed, accepted or rejected")
    decided_at: datetime | None


class SpeakerProposalsOut(BaseModel):
    speaker_uuid: UUID
    speaker_label: str
    speaker_name: str | None
    proposals: list[ProposalOut] = Field(description="the most confident first")


class SpeakerNamesOut(BaseModel):
    run: LlmRunOut | None = Field(description="the newest run (it may still be running, or have failed)")
    proposals_run: LlmRunOut | None = Field(description="the newest completed run, whose proposals are listed")
    speakers: list[SpeakerProposalsOut] = Field(description="the speakers it proposed names for, by label")


class AcceptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    remember: bool = Field(
        default=False, description="also remember this voice: your profile of that name learns it (created if none)"
    )


def proposal_out(found: Proposal) -> ProposalOut:
    return ProposalOut(
        uuid=found.uuid,
        run_uuid=found.run_uuid,
        speaker_uuid=found.speaker_uuid,
        speaker_label=found.speaker_label,
        speaker_name=found.speaker_name,
        name=found.name,
        confidence=found.confidence,
        evidence=[EvidenceOut.model_validate(e) for e in found.evidence],
        status=found.status,
        decided_at=found.decided_at,
    )


def current(ctx: Ctx, file_uuid: UUID) -> SpeakerNamesOut:
    """The file's newest speaker-names run and the proposals of its newest completed one, per speaker (the API's
    answer and the file page's panel)."""
    runs: list[LlmRun] = LlmRunRepository(ctx.conn).list_for_file(ctx.actor, file_uuid, "speaker_names")
    completed = next((run for run in runs if run.status == "completed"), None)
    found = SpeakerNameProposalRepository(ctx.conn).of_run(ctx.actor, completed.uuid) if completed else []
    speakers: dict[UUID, SpeakerProposalsOut] = {}
    for proposal in found:
        entry = speakers.setdefault(
            proposal.speaker_uuid,
            SpeakerProposalsOut(
                speaker_uuid=proposal.speaker_uuid,
                speaker_label=proposal.speaker_label,
                speaker_name=proposal.speaker_name,
                proposals=[],
            ),
        )
        entry.proposals.append(proposal_out(proposal))
    return SpeakerNamesOut(
        run=run_out(ctx, runs[0]) if runs else None,
        proposals_run=run_out(ctx, completed) if completed else None,
        speakers=list(speakers.values()),
    )


@router.post("/api/files/{uuid}/speaker-names", body=RunRequestIn, response=LlmRunOut, status=202, raises=RUN_RAISES)
def propose(ctx: Ctx, body: RunRequestIn) -> LlmRunOut:
    """Ask your LLM who the speakers are, from what is said; follow the run at /api/llm-runs/{uuid}. The proposals
    it stores are applied only when someone accepts them."""
    return request_run(ctx, "speaker_names", body.llm_config_uuid)


@router.get("/api/files/{uuid}/speaker-names", response=SpeakerNamesOut)
def proposals(ctx: Ctx) -> SpeakerNamesOut:
    """The names proposed by the newest completed run, per speaker, with their quoted evidence and confidence,
    open and decided; and the newest run's state."""
    MediaFileRepository(ctx.conn).get(ctx.actor, ctx.uuid("uuid"))  # 404 when unseen, not an empty answer
    return current(ctx, ctx.uuid("uuid"))


@router.post("/api/speaker-names/{uuid}/accept", body=AcceptIn, response=ProposalOut, raises=(Conflict,))
def accept(ctx: Ctx, body: AcceptIn) -> ProposalOut:
    """The speaker is called this: it takes the name. 409 naming `status` once the proposal is decided."""
    repo = SpeakerNameProposalRepository(ctx.conn)
    return proposal_out(repo.accept(ctx.actor, ctx.uuid("uuid"), remember=body.remember))


@router.post("/api/speaker-names/{uuid}/reject", response=ProposalOut, raises=(Conflict,))
def reject(ctx: Ctx) -> ProposalOut:
    """The speaker is not called this; nothing else changes. 409 naming `status` once the proposal is decided."""
    return proposal_out(SpeakerNameProposalRepository(ctx.conn).reject(ctx.actor, ctx.uuid("uuid")))
