"""The file page's forms for proposed speaker names (templates/_speaker_names.html): ask for proposals, cancel a
run, accept or reject a proposal. Each calls what the JSON API calls (web/speaker_names.py, web/llm_runs.py) and
comes back to the page's "Who is speaking?" section."""

from __future__ import annotations

from starlette.responses import Response

from repo import access
from repo.errors import Invalid
from repo.llm_runs import LlmRunRepository
from repo.speaker_name_proposals import SpeakerNameProposalRepository
from web.llm_runs import request_run
from web.ui.render import View, page

ANCHOR = "#speaker-names"


def _back(view: View) -> Response:
    return view.redirect(f"/files/{view.uuid('uuid')}{ANCHOR}")


@page("/files/{uuid}/speaker-names", methods=("POST",))
def propose(view: View) -> Response:
    """Ask the person's active LLM configuration who the speakers are."""
    request_run(view, "speaker_names", None)
    return _back(view)


@page("/files/{uuid}/speaker-names/runs/{run}/cancel", methods=("POST",))
def cancel(view: View) -> Response:
    """Stop a run of this file's (a pending one at once, a processing one within a second)."""
    runs, run = LlmRunRepository(view.conn), view.uuid("run")
    access.require(view.conn, view.actor, access.EDITOR, file_uuid=view.uuid("uuid"))  # 404 unseen, 403 below
    if run not in {r.uuid for r in runs.list_for_file(view.actor, view.uuid("uuid"), "speaker_names")}:
        runs.get(view.actor, run)  # 404 when unseen
        raise Invalid("that is not a speaker-names run of this file", "run")
    runs.request_cancel(view.actor, run)
    return _back(view)


@page("/files/{uuid}/speaker-names/{proposal}", methods=("POST",))
def decide(view: View) -> Response:
    """Accept (the speaker takes the name; "remember this voice" also lets the profile of that name learn it) or
    reject a proposal."""
    proposals, uuid = SpeakerNameProposalRepository(view.conn), view.uuid("proposal")
    if proposals.get(view.actor, uuid).media_file_uuid != view.uuid("uuid"):
        raise Invalid("that proposal belongs to another file", "proposal")
    action = view.form.get("action")
    if action == "accept":
        proposals.accept(view.actor, uuid, remember=bool(view.form.get("remember")))
    elif action == "reject":
        proposals.reject(view.actor, uuid)
    else:
        raise Invalid("action: accept or reject", "action")
    return _back(view)


ROUTES = [propose, cancel, decide]
