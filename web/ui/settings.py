"""Settings: the account (a new email or password needs the current password, guessed as slowly as a sign-in),
preferences, notification kinds, LLM configurations (the api key is write-only), summary prompts."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from asr.availability import model_choices
from repo.errors import Invalid
from repo.llm_configs import LlmConfigRepository
from repo.notifications import KINDS, NotificationRepository
from repo.prompts import PromptRepository
from repo.user_settings import SettingsRepository
from transcript.choices import MAX_VOCABULARY_CHARS
from web import llm_configs, my_sessions, prompts, two_factor
from web import settings as web_settings
from web.auth import MeIn, update_account
from web.choices import check_model
from web.llm_configs import LlmConfigIn
from web.prompts import PromptIn
from web.ui.llm_usage import usage_today
from web.ui.my_data import exports_of
from web.ui.render import View, page

THEMES = ("system", "light", "dark")
# A prompt's answer shape (repo/prompts.py's output_format) in a person's words.
FORMAT_WORDS = {"bluf": "bottom line up front", "json": "JSON in your schema", "markdown": "Markdown"}


def _configs(view: View) -> LlmConfigRepository:
    return LlmConfigRepository(view.conn, view.services.master_key)


# The kinds in a person's words (the API names them by kind); each is one outcome, never a step on the way.
KIND_WORDS = {
    "transcription": "A transcript is ready",
    "speakers": "Speakers are recognised from your speaker profiles",
    "summary": "A summary is ready",
    "error": "Something failed: processing, an import, a summary",
    "system": "Messages from the server",
    "shared": "Someone shares a file, a collection or a speaker profile with you",
}


@page("/settings")
def settings(view: View) -> Response:
    actor, user = view.actor, view.user
    assert user is not None  # a page with auth=True
    return view.render(
        "settings.html",
        values=SettingsRepository(view.conn).get_all(actor),
        themes=THEMES,
        kinds=NotificationRepository(view.conn).preferences(actor),
        kind_words=KIND_WORDS,
        configs=_configs(view).list(actor),
        prompts=PromptRepository(view.conn).list(actor),
        format_words=FORMAT_WORDS,
        models=model_choices(view.services.settings),
        max_vocabulary=MAX_VOCABULARY_CHARS,
        two_factor=two_factor.status(view, user),  # step 19: two factors and sessions
        sessions=my_sessions.sessions_of(view),
        identities=my_sessions.identities_of(view),
        exports=exports_of(view),
        llm_usage=usage_today(view),
    )


@page("/settings/account", methods=("POST",))
def account(view: View) -> Response:
    """Like PUT /api/users/me: only what changed is sent, so saving the name alone needs no password."""
    user = view.user
    assert user is not None  # a page with auth=True
    email = view.form.get("email", "").strip()
    body = MeIn.model_validate(
        {
            "full_name": view.form.get("full_name", "").strip(),
            "email": email if email and email.lower() != user.email.lower() else None,
            "password": view.form.get("password") or None,
            "current_password": view.form.get("current_password") or None,
        }
    )
    update_account(view, body)  # the JSON route's rules
    return view.redirect("/settings#account")


@page("/settings/preferences", methods=("POST",))
def preferences(view: View) -> Response:
    values: dict[str, Any] = {
        "summary.auto": view.form.get("summary.auto") == "on",
        "ui.theme": view.form.get("ui.theme", "system"),
        "transcription.language": view.form.get("transcription.language", "").strip() or None,
    }
    web_settings.change(view, values)
    notifications = NotificationRepository(view.conn)
    for kind in KINDS:
        notifications.set_preference(view.actor, kind, view.form.get(f"notify.{kind}") == "on")
    return view.redirect("/settings#preferences")


@page("/settings/processing", methods=("POST",))
def processing(view: View) -> Response:
    """The defaults of an upload's processing choices; a model must be one on this server (422 naming it)."""
    values: dict[str, Any] = {
        "transcription.model": check_model(view.services.settings, view.form.get("transcription.model", "")),
        "transcription.task": view.form.get("transcription.task", "transcribe"),
        "transcription.vocabulary": view.form.get("transcription.vocabulary", "").strip() or None,
        "diarization.enabled": view.form.get("diarization.enabled") == "on",
    }
    web_settings.change(view, values)
    return view.redirect("/settings#processing")


@page("/settings/llm", methods=("POST",))
def add_llm_config(view: View) -> Response:
    fields = {k: v.strip() for k, v in view.form.items() if k in LlmConfigIn.model_fields and v.strip()}
    body = LlmConfigIn.model_validate(fields)
    created = llm_configs.create(view, body)  # the same rules (and audit row) as the JSON route
    if view.form.get("activate") == "on":
        llm_configs.activate(view, created.uuid)
    return view.redirect("/settings#llm")


@page("/settings/llm/{uuid}/activate", methods=("POST",))
def activate_llm_config(view: View) -> Response:
    llm_configs.activate(view, view.uuid("uuid"))
    return view.redirect("/settings#llm")


@page("/settings/llm/{uuid}/delete", methods=("POST",))
def delete_llm_config(view: View) -> Response:
    llm_configs.delete(view, view.uuid("uuid"))
    return view.redirect("/settings#llm")


@page("/settings/prompts", methods=("POST",))
def add_prompt(view: View) -> Response:
    fields: dict[str, Any] = {k: v.strip() for k, v in view.form.items() if k in PromptIn.model_fields and v.strip()}
    if "output_schema" in fields:
        try:
            fields["output_schema"] = json.loads(fields["output_schema"])
        except json.JSONDecodeError as exc:
            raise Invalid(f"output_schema: not JSON ({exc.msg} at line {exc.lineno})", "output_schema") from None
    body = PromptIn.model_validate(fields)
    prompts.create(view, body)
    return view.redirect("/settings#prompts")


@page("/settings/prompts/{uuid}/activate", methods=("POST",))
def activate_prompt(view: View) -> Response:
    prompts.activate(view, view.uuid("uuid"))
    return view.redirect("/settings#prompts")


ROUTES = [
    settings,
    account,
    preferences,
    processing,
    add_llm_config,
    activate_llm_config,
    delete_llm_config,
    add_prompt,
    activate_prompt,
]
