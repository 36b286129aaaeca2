"""One pipeline for JSON routes and pages (web/pipeline.py): the same failure is the same status on both, a
subclass of an error included; a page says it as a sentence (never JSON, never a traceback), the API as JSON.

Routes declared only for these tests raise each kind of failure from inside the request's transaction, once
through a JSON route and once through a page, GET and form POST alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import psycopg
import pytest
from pydantic import BaseModel, Field
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.testclient import TestClient

from config.settings import Settings
from repo.errors import Conflict, Contention, Invalid, NotFound, Unavailable
from tests.web import csrf_in, register, sign_up
from web.app import create_app
from web.endpoint import Ctx, Router
from web.errors import PayloadTooLarge, TooManyRequests
from web.pipeline import routes
from web.ui.render import View, page


class RecordingGone(NotFound):
    """A subclass the old page mapping (exact types) answered 400."""


class NameTaken(Conflict):
    pass


class Strict(BaseModel):
    full_name: str = Field(min_length=3)


FAILURES: dict[str, tuple[Callable[[], Exception], int, str]] = {
    "gone": (lambda: RecordingGone("that recording was deleted"), 404, "That recording was deleted."),
    "taken": (lambda: NameTaken("name: that name is taken", "name"), 409, "Name: that name is taken."),
    "contention": (lambda: Contention("the data changed concurrently; try again"), 409, "The data changed"),
    "invalid": (lambda: Invalid("speaker_name: too odd", "speaker_name"), 422, "Speaker name: too odd."),
    "unavailable": (lambda: Unavailable("no database connection free within 5 s"), 503, "No database connection"),
    "too-large": (lambda: PayloadTooLarge("body larger than 10 bytes"), 413, "Body larger than 10 bytes."),
    "too-many": (lambda: TooManyRequests("slow down"), 429, "Slow down."),
    "model": (lambda: _validation_error(), 422, "Full name: String should have at least 3 characters."),
    "lost": (lambda: psycopg.OperationalError("server closed the connection"), 503, "The database is unavailable"),
    "bug": (lambda: RuntimeError("a bug"), 500, "Something went wrong on our side. Please try again."),
}


def _validation_error() -> Exception:
    try:
        Strict.model_validate({"full_name": "x"})
    except Exception as exc:
        return exc
    raise AssertionError("unreachable")


router = Router("test")


@router.get("/api/test/fail/{kind}")
def api_fails(ctx: Ctx) -> None:
    """Raise the failure the path names."""
    raise FAILURES[ctx.request.path_params["kind"]][0]()


@page("/test/fail/{kind}", methods=("GET", "POST"))
def page_fails(view: View) -> Response:
    raise FAILURES[view.request.path_params["kind"]][0]()


TEST_ROUTES: list[BaseRoute] = [*routes(router.endpoints), *routes(list(page_fails.endpoints))]


@pytest.fixture
def app_client(app_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(app_settings, extra_routes=TEST_ROUTES)) as client:
        yield client


@pytest.mark.parametrize("kind", list(FAILURES))
def test_a_failure_has_the_same_status_on_a_page_and_on_the_api(app_client: TestClient, kind: str) -> None:
    _, status, sentence = FAILURES[kind]
    token = sign_up(app_client)
    api = app_client.get(f"/api/test/fail/{kind}")
    assert api.status_code == status and api.headers["content-type"] == "application/json"
    assert set(api.json()) == {"detail", "field"}
    for shown in (app_client.get(f"/test/fail/{kind}"), app_client.post(f"/test/fail/{kind}", data={"csrf": token})):
        assert shown.status_code == status and shown.headers["content-type"].startswith("text/html")
        assert sentence in shown.text and "Traceback" not in shown.text and '"detail"' not in shown.text
        assert "frame-ancestors 'none'" in shown.headers["content-security-policy"]
    if kind in ("contention", "unavailable", "lost"):  # worth trying again: says when
        assert int(api.headers["retry-after"]) >= 1 and int(shown.headers["retry-after"]) >= 1


def test_a_page_needing_a_user_sends_a_stranger_to_sign_in_and_the_api_answers_401(app_client: TestClient) -> None:
    assert app_client.get("/api/test/fail/gone").status_code == 401
    asked = app_client.get("/test/fail/gone?x=1", follow_redirects=False)
    assert asked.status_code == 303 and asked.headers["location"] == "/signin?next=%2Ftest%2Ffail%2Fgone%3Fx%3D1"


def test_a_form_or_query_with_a_nul_character_is_a_sentence_naming_the_field(
    client: TestClient, fresh_url: str
) -> None:
    token = sign_up(client)
    refused = client.post("/collections/new", data={"csrf": token, "name": "Team\x00A"})
    assert refused.status_code == 422 and "Name: must not contain NUL characters." in refused.text
    searched = client.get("/search", params={"q": "budget\x00"})
    assert searched.status_code == 422 and "Q: must not contain NUL characters." in searched.text
    with psycopg.connect(fresh_url) as conn:
        assert conn.execute("SELECT count(*) FROM collections").fetchone() == (0,)


def test_a_bearer_token_signs_a_page_in_and_a_form_post_still_needs_the_csrf_field(client: TestClient) -> None:
    """Pages authenticate as the API does. No browser sends a bearer token by itself, but a form post is
    a form post: its CSRF field is required whatever signed it in."""
    headers = register(client)
    library = client.get("/", headers=headers)
    assert library.status_code == 200 and "Library" in library.text
    refused = client.post("/collections/new", data={"name": "Team"}, headers=headers)
    assert refused.status_code == 403 and "did not come from this site" in refused.text
    assert client.get("/api/collections", headers=headers).json() == []


def test_the_sign_in_form_is_csrf_protected_before_any_session_exists(client: TestClient) -> None:
    register(client, email="amy@example.com")
    client.cookies.clear()
    forged = client.post("/signin", data={"email": "amy@example.com", "password": "correct horse 1"})
    assert forged.status_code == 403 and "opentr_session" not in forged.headers.get("set-cookie", "")
    form = client.get("/signin")
    signed = client.post(
        "/signin",
        data={"csrf": csrf_in(form.text), "email": "amy@example.com", "password": "correct horse 1"},
        follow_redirects=False,
    )
    assert signed.status_code == 303 and "opentr_session=" in signed.headers["set-cookie"]


def test_a_method_a_page_does_not_take_is_a_405_page_and_the_apis_stays_json(client: TestClient) -> None:
    token = sign_up(client)
    refused = client.post("/settings", data={"csrf": token})
    assert refused.status_code == 405 and refused.headers["content-type"].startswith("text/html")
    assert "Method POST not allowed." in refused.text and refused.headers["allow"] == "GET, HEAD"
    api = client.patch("/api/collections", json={})
    assert api.status_code == 405 and api.json()["detail"] == "method PATCH not allowed"
