"""The file page's topics panel (templates/_topics.html): what it shows, read for the page
(web/ui/media.py).

The file's topics with their moments (buttons that seek the player, as the transcript's times do) and what each
proposes, as one-click forms (web/ui/topics.py); the newest topics run's state, progress and cost; and whether the
viewer has a language model to ask at all (a problem with the way to set one up, instead of a button that fails).
"""

from __future__ import annotations

from typing import Any

from repo.llm_configs import LlmConfigRepository
from repo.llm_runs import BUSY, LlmRunRepository
from repo.media_files import FileDetail
from repo.topics import TopicRepository
from web.llm_runs import run_out
from web.ui.render import View


def panel(view: View, file: FileDetail) -> dict[str, Any]:
    """The template's variables for this panel."""
    runs = LlmRunRepository(view.conn).list_for_file(view.actor, file.uuid, "topics", limit=1)
    run = run_out(view, runs[0]) if runs else None
    return {
        "topics": TopicRepository(view.conn).for_file(view.actor, file.uuid),
        "topics_run": run,
        "topics_busy": run is not None and run.status in BUSY,
        # a run uses the requester's own active configuration (web/llm_runs.py): has the viewer one?
        "topics_llm": LlmConfigRepository(view.conn, view.services.master_key).active(view.actor) is not None,
        "topics_owner": file.user_id == view.actor.id,  # a collection holds its owner's files only
    }
