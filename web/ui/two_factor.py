"""Two factors in the browser: the second step of a sign-in, and setting them up or changing them in the settings.

After a right password (or a directory's), an account with two factors on, or one they are required of, does not get
its session yet: the sign-in form answers with this second step instead, holding a pending state (web/signin.py: a
signed cookie naming a record in Redis, five minutes, bound to the account and the first factor's method, used once).
The person types a code of their app, or one of their recovery codes; an account that must set two factors up does
so right there (QR code, a code to confirm it, the ten recovery codes shown once) and is then signed in.
"""

from __future__ import annotations

from starlette.responses import Response

from repo.errors import Conflict
from repo.users import User, UserRepository
from web import sessions
from web.audit_trail import audit
from web.errors import TooManyRequests, problem_of
from web.signin import (
    PENDING_COOKIE,
    PENDING_SECONDS,
    Pending,
    SecondFactorRefused,
    begin_pending,
    finish_signin,
    read_pending,
    second_factor_need,
    take_pending,
    verify_second_factor,
)
from web.two_factor import ProofIn, confirm, disable, enrolment_out, factors, new_codes, start, status
from web.ui import oidc
from web.ui.render import View, local_next, page, sentence_of


def _anonymous(view: View, template: str, status: int = 200, **context: object) -> Response:
    nonce = sessions.pre_session_nonce(view.request)
    response = view.render(template, status, form_csrf=sessions.csrf_token(view.request, nonce), **context)
    sessions.keep_pre_session(response, view.request, nonce)
    return response


def _step_page(view: View, user: User, status: int = 200, error: str | None = None) -> Response:
    """The second step's form: a code (and a recovery code instead), or setting two factors up."""
    need = second_factor_need(view, user)
    enrolment = factors(view).pending_enrolment(user.id, user.email) if need == "enrol" else None
    return _anonymous(
        view,
        "two_factor_signin.html",
        status,
        need=need,
        enrolment=enrolment_out(enrolment) if enrolment else None,
        error=error,
    )


def second_step(view: View, user: User, *, method: str, target: str) -> Response | None:
    """After the first factor: None when the password alone signs in, else the second step's page with its pending
    state (an account that must set two factors up gets its new secret now, in this POST's transaction)."""
    need = second_factor_need(view, user)
    if need == "none":
        return None
    if need == "enrol" and factors(view).pending_enrolment(user.id, user.email) is None:
        start(view, user)
    cookie = begin_pending(view, user, method=method, target=target)
    response = _step_page(view, user)
    secure = view.services.settings.is_production
    response.set_cookie(
        PENDING_COOKIE, cookie, max_age=PENDING_SECONDS, path="/signin", httponly=True, samesite="lax", secure=secure
    )
    return response


def _start_over(view: View) -> Response:
    error = "This sign-in took too long or has ended. Sign in again."
    providers = oidc.buttons(view)
    response = _anonymous(view, "signin.html", 200, next="/", expired=False, error=error, email="", providers=providers)
    response.delete_cookie(PENDING_COOKIE, path="/signin")
    return response


def _complete(view: View, pending: Pending, user: User) -> str | None:
    """Use the pending state up and issue the session's token; None when another request used it first."""
    if not take_pending(view, pending):
        return None
    return finish_signin(view, user, method=pending.method, kind="browser")


@page("/signin/two-factor", methods=("GET", "POST"), auth=False)
def signin_second_step(view: View) -> Response:
    pending = read_pending(view, view.request.cookies.get(PENDING_COOKIE))
    if pending is None:
        return _start_over(view)
    user = UserRepository(view.conn).get_by_id(pending.user_id)
    if view.request.method == "GET":
        return _step_page(view, user)
    need = second_factor_need(view, user)
    codes: list[str] | None = None
    try:
        if need == "enrol":
            codes = confirm(view, user, view.form.get("otp", ""))
            details = {"first_factor": pending.method, "set_up": True}
            audit(view, "signin.totp", object_type="user", object_id=user.uuid, details=details, actor_id=user.id)
        elif need == "code":
            otp = view.form.get("otp", "").strip() or None
            recovery = view.form.get("recovery_code", "").strip() or None
            verify_second_factor(view, user, method=pending.method, otp=otp, recovery_code=recovery)
    except TooManyRequests as exc:
        locked = _step_page(view, user, 429, sentence_of(problem_of(view.request, exc)))
        locked.headers.update(exc.headers or {})
        return locked
    except (SecondFactorRefused, Conflict) as exc:
        return _step_page(view, user, 200, sentence_of(problem_of(view.request, exc)))
    token = _complete(view, pending, user)
    if token is None:
        return _start_over(view)
    target = local_next(pending.target, "/")
    response: Response
    if codes is not None:  # just set up: the recovery codes, this once, then on
        response = view.render("recovery_codes.html", codes=codes, next=target)
    else:
        response = view.redirect(target)
    sessions.start(response, view.request, token)
    response.delete_cookie(PENDING_COOKIE, path="/signin")
    return response


# --- the settings page's "Two factors" -------------------------------------------------------------------------------


def _settings_page(view: View, status_code: int = 200, error: str | None = None) -> Response:
    user = view.user
    assert user is not None
    enrolment = factors(view).pending_enrolment(user.id, user.email)
    return view.render(
        "two_factor_settings.html",
        status_code,
        state=status(view, user),
        enrolment=enrolment_out(enrolment) if enrolment else None,
        error=error,
    )


def _proof(view: View) -> ProofIn:
    return ProofIn(otp=view.form.get("otp", "").strip() or None, password=view.form.get("password") or None)


@page("/settings/two-factor")
def two_factor_settings(view: View) -> Response:
    return _settings_page(view)


@page("/settings/two-factor/start", methods=("POST",))
def two_factor_start(view: View) -> Response:
    user = view.user
    assert user is not None
    enrolment = start(view, user)
    return view.render(
        "two_factor_settings.html",
        state=status(view, user),
        enrolment=enrolment_out(enrolment),
        error=None,
    )


@page("/settings/two-factor/confirm", methods=("POST",))
def two_factor_confirm(view: View) -> Response:
    user = view.user
    assert user is not None
    try:
        codes = confirm(view, user, view.form.get("otp", ""))
    except Conflict as exc:
        return _settings_page(view, 200, error=sentence_of(problem_of(view.request, exc)))
    return view.render("recovery_codes.html", codes=codes, next="/settings#two-factor")


@page("/settings/two-factor/recovery-codes", methods=("POST",))
def two_factor_new_codes(view: View) -> Response:
    user = view.user
    assert user is not None
    codes = new_codes(view, user, _proof(view))
    return view.render("recovery_codes.html", codes=codes, next="/settings#two-factor")


@page("/settings/two-factor/disable", methods=("POST",))
def two_factor_disable(view: View) -> Response:
    user = view.user
    assert user is not None
    disable(view, user, _proof(view))
    return view.redirect("/settings#two-factor")


ROUTES = [
    signin_second_step,
    two_factor_settings,
    two_factor_start,
    two_factor_confirm,
    two_factor_new_codes,
    two_factor_disable,
]
