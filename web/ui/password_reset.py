"""Forgotten passwords: /forgot asks for a reset link by e-mail, /reset?token=... chooses the new password
(web/password_reset.py's rules: the same answer for any address, a link used once, within its time)."""

from __future__ import annotations

from pydantic import ValidationError
from starlette.responses import Response

from repo.errors import DataError
from web import sessions
from web.errors import ApiError, problem_of
from web.password_reset import ResetConfirmIn, ResetRequestIn, confirm_reset, request_reset
from web.ui.render import View, page, sentence_of


def _anonymous(view: View, template: str, status: int = 200, **context: object) -> Response:
    nonce = sessions.pre_session_nonce(view.request)
    response = view.render(template, status, form_csrf=sessions.csrf_token(view.request, nonce), **context)
    sessions.keep_pre_session(response, view.request, nonce)
    return response


@page("/forgot", methods=("GET", "POST"), auth=False)
def forgot(view: View) -> Response:
    if view.request.method == "GET":
        return _anonymous(view, "forgot.html", email="", error=None, done=None)
    email = view.form.get("email", "").strip()
    try:
        done = request_reset(view, ResetRequestIn(email=email).email)
    except (ValidationError, ApiError) as exc:
        problem = problem_of(view.request, exc)
        response = _anonymous(view, "forgot.html", problem.status, email=email, error=sentence_of(problem), done=None)
        response.headers.update(problem.headers or {})
        return response
    return _anonymous(view, "forgot.html", 202, email="", error=None, done=done)


@page("/reset", methods=("GET", "POST"), auth=False)
def reset(view: View) -> Response:
    token = view.form.get("token", "") or view.query("token")
    if view.request.method == "GET":
        return _anonymous(view, "reset.html", token=token, error=None)
    password = view.form.get("password", "")
    if password != view.form.get("password_again", ""):
        error = "The two passwords differ. Type the same password twice."
        return _anonymous(view, "reset.html", token=token, error=error)
    try:
        body = ResetConfirmIn(token=token, password=password)
        confirm_reset(view, body.token, body.password)
    except (ValidationError, ApiError, DataError) as exc:
        problem = problem_of(view.request, exc)
        return _anonymous(view, "reset.html", problem.status, token=token, error=sentence_of(problem))
    return view.redirect("/signin?reset=1")


ROUTES = [forgot, reset]
