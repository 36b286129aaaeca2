"""The file page's translation forms (templates/_translations.html): request, redo, cancel, delete. Each calls
the code the API's routes call (web/translations.py, web/llm_runs.py) and comes back to the panel."""

from __future__ import annotations

from starlette.responses import Response

from asr.languages import CODES
from repo.errors import Invalid
from repo.llm_runs import LlmRunRepository
from repo.media_files import MediaFileRepository
from repo.translations import TranslationRepository
from web.llm_runs import request_run
from web.translations import redo
from web.ui.render import View, page


def _back(view: View) -> Response:
    return view.redirect(f"/files/{view.uuid('uuid')}#translations")


def _run_of_file(view: View) -> None:
    """The path's translation belongs to the path's file (a form cannot act on another file's run)."""
    run = TranslationRepository(view.conn).run(view.actor, view.uuid("run"))
    if run.media_file_id != MediaFileRepository(view.conn).get(view.actor, view.uuid("uuid")).id:
        raise Invalid("that translation belongs to another file", "run")


@page("/files/{uuid}/translations", methods=("POST",))
def request_translation(view: View) -> Response:
    """Translate the transcript into the chosen language with the requester's active LLM configuration."""
    language = view.field("language", label="Language")
    if language not in CODES:
        raise Invalid("Language: choose one from the list", "language")
    request_run(view, "translation", None, language=language)
    return _back(view)


@page("/files/{uuid}/translations/{run}/redo", methods=("POST",))
def redo_translation(view: View) -> Response:
    """Translate again into the same language (the transcript was edited since)."""
    _run_of_file(view)
    redo(view, view.uuid("run"), None)
    return _back(view)


@page("/files/{uuid}/translations/{run}/cancel", methods=("POST",))
def cancel_translation(view: View) -> Response:
    _run_of_file(view)
    LlmRunRepository(view.conn).request_cancel(view.actor, view.uuid("run"))
    return _back(view)


@page("/files/{uuid}/translations/{run}/delete", methods=("POST",))
def delete_translation(view: View) -> Response:
    _run_of_file(view)
    LlmRunRepository(view.conn).delete(view.actor, view.uuid("run"))
    return _back(view)


ROUTES = [request_translation, redo_translation, cancel_translation, delete_translation]
