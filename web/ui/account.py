"""Sign in, register, sign out: the browser side of `web.auth`, with the session in a cookie (see web.sessions)."""

from __future__ import annotations

from pydantic import ValidationError
from starlette.responses import Response

from repo.errors import Conflict
from repo.errors import Forbidden as NotAllowed
from repo.users import UserRepository
from web import sessions
from web.auth import RegisterIn, password_signin
from web.errors import ServiceUnavailable, TooManyRequests, Unauthorized, problem_of
from web.signin import finish_signin
from web.ui import oidc, two_factor
from web.ui.render import View, local_next, page, sentence_of


def _anonymous_form(view: View, template: str, status: int = 200, **context: object) -> Response:
    nonce = sessions.pre_session_nonce(view.request)
    form_csrf = sessions.csrf_token(view.request, nonce)
    response = view.render(template, status, form_csrf=form_csrf, providers=oidc.buttons(view), **context)
    sessions.keep_pre_session(response, view.request, nonce)
    return response


def _signed_in(view: View, token: str, target: str) -> Response:
    response = view.redirect(local_next(target, "/"))
    sessions.start(response, view.request, token)
    return response


@page("/signin", methods=("GET", "POST"), auth=False)
def signin(view: View) -> Response:
    target = local_next(view.form.get("next") or view.query("next"), "/")
    if view.request.method == "GET":
        if view.user is not None:
            return view.redirect(target)
        expired = view.query("expired") == "1"
        notice = "Your new password is set. Sign in with it." if view.query("reset") == "1" else None  # step 19
        return _anonymous_form(view, "signin.html", next=target, expired=expired, error=None, email="", notice=notice)
    email, password = view.form.get("email", "").strip(), view.form.get("password", "")
    try:
        user, method = password_signin(view, email, password)
    except (TooManyRequests, ServiceUnavailable, NotAllowed) as exc:  # the form again: how long to wait, or why not
        problem = problem_of(view.request, exc)
        error = sentence_of(problem)
        response = _anonymous_form(
            view, "signin.html", problem.status, next=target, expired=False, error=error, email=email
        )
        response.headers.update(problem.headers or {})
        return response
    except Unauthorized:
        error = "That email and password do not match an account. Check them and try again."
        return _anonymous_form(view, "signin.html", 200, next=target, expired=False, error=error, email=email)
    # step 19: the second factor, when the account has two factors on or must set them up (web/ui/two_factor.py)
    second = two_factor.second_step(view, user, method=method, target=target)
    if second is not None:
        return second
    return _signed_in(view, finish_signin(view, user, method=method, kind="browser"), target)


@page("/register", methods=("GET", "POST"), auth=False)
def register(view: View) -> Response:
    if view.request.method == "GET":
        if view.user is not None:
            return view.redirect("/")
        return _anonymous_form(view, "register.html", error=None, email="", full_name="")
    email, full_name = view.form.get("email", "").strip(), view.form.get("full_name", "").strip()
    if view.form.get("password", "") != view.form.get("password_again", ""):
        error = "The two passwords differ. Type the same password twice."
        return _anonymous_form(view, "register.html", error=error, email=email, full_name=full_name)
    try:
        body = RegisterIn(email=email, password=view.form.get("password", ""), full_name=full_name)
    except ValidationError as exc:  # the API's own words for the field (web/errors.py), on the form
        error = sentence_of(problem_of(view.request, exc))
        return _anonymous_form(view, "register.html", error=error, email=email, full_name=full_name)
    users = UserRepository(view.conn)
    try:
        with view.conn.transaction():  # a savepoint: the taken-email error must not abort the whole request
            user = users.create(body.email, body.password, body.full_name)
    except Conflict:
        error = "An account with this email already exists. Sign in instead."
        return _anonymous_form(view, "register.html", error=error, email=email, full_name=full_name)
    # step 19: two factors required of everyone are set up before the first session too
    second = two_factor.second_step(view, user, method="register", target="/")
    if second is not None:
        return second
    return _signed_in(view, finish_signin(view, user, method="register", kind="browser"), "/")


@page("/signout", methods=("POST",), auth=False)
def signout(view: View) -> Response:
    token = sessions.session_token(view.request)
    provider_signout = None
    if token:
        UserRepository(view.conn).revoke_token(token)
        provider_signout = oidc.provider_signout_url(view, token)  # a session from a provider ends there too
    response = view.redirect(provider_signout or "/signin")
    sessions.end(response)
    return response


ROUTES = [signin, register, signout]
