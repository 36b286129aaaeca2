"""The file page's speaker names panel (templates/_speaker_names.html): "Who is speaking?" — the newest run's state
and costs, and the names it proposed, each with its quoted evidence (a time that seeks the player), to accept or
reject (web/ui/speaker_names.py's forms). Read for the page (web/ui/media.py)."""

from __future__ import annotations

from typing import Any

from repo.media_files import FileDetail
from web.speaker_names import current
from web.ui.render import View


def panel(view: View, file: FileDetail) -> dict[str, Any]:
    """The template's variables for this panel: `speaker_names` (web/speaker_names.py's SpeakerNamesOut)."""
    return {"speaker_names": current(view, file.uuid)}
