"""The file page's translations panel (templates/_translations.html): what it shows, read for the page
(web/ui/media.py)."""

from __future__ import annotations

from typing import Any

from repo.media_files import FileDetail
from web.ui.render import View


def panel(view: View, file: FileDetail) -> dict[str, Any]:
    """The template's variables for this panel (being written: none yet)."""
    return {}
