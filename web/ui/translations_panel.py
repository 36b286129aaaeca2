"""The file page's translations panel (templates/_translations.html): what it shows, read for the page
(web/ui/media.py).

Every translation of the file is listed (language, state, progress, what it cost, whether the transcript changed
since); the current one of each language (its newest completed) is also shown side by side with the transcript,
its times seeking the player. The forms post to web/ui/translations.py.
"""

from __future__ import annotations

from typing import Any

from asr.languages import BY_NAME, language_name
from repo.llm_runs import LlmRun, LlmRunRepository
from repo.media_files import FileDetail
from repo.translations import KIND, SideBySide, TranslationRepository
from web.ui.render import View

# The choices of the form: every language Whisper knows, by name (asr/languages.py), alphabetical.
LANGUAGES: list[tuple[str, str]] = sorted(
    ((code, language_name(code)) for code in BY_NAME.values()), key=lambda c: c[1]
)


def panel(view: View, file: FileDetail) -> dict[str, Any]:
    """The template's variables for this panel."""
    runs = LlmRunRepository(view.conn)
    translations = runs.list_for_file(view.actor, file.uuid, KIND)
    version = runs.current_transcript_version(file.id) if translations else 0
    current: dict[str, LlmRun] = {}
    for run in translations:  # newest first: the first completed of each language is its current translation
        if run.status == "completed" and run.language and run.language not in current:
            current[run.language] = run
    side_by_side: dict[str, list[SideBySide]] = {
        str(run.uuid): TranslationRepository(view.conn).side_by_side(view.actor, run.uuid) for run in current.values()
    }
    return {
        "translations": translations,
        "translation_languages": LANGUAGES,
        "translation_names": {run.uuid: language_name(run.language or "") for run in translations},
        "translation_stale": {
            run.uuid: run.transcript_version is not None and run.transcript_version != version for run in translations
        },
        "translation_current": {run.uuid for run in current.values()},
        "translation_side_by_side": side_by_side,
    }
