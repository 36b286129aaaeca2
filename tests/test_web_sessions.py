"""Browser sessions and CSRF (web/sessions.py), and how pages answer (web/ui/render.py), without a browser.

The cookie is HttpOnly + SameSite=Lax and signed; every form post and every cookie-authenticated API write needs the
CSRF token; a refused post changes nothing; another user's file is a 404 page; an ended session sends the person to
sign in again with a sentence saying so.
"""

from __future__ import annotations

from typing import Any

import psycopg

from tests.web import PAGE_PASSWORD as PASSWORD
from tests.web import a_file, actor_of, csrf_in, register, sign_up
from tests.workers_support import wav


def test_register_sets_a_signed_httponly_lax_session_cookie(client: Any) -> None:
    form = client.get("/register")
    fields = {"csrf": csrf_in(form.text), "email": "pat@example.com", "full_name": "Pat"}
    done = client.post(
        "/register", data={**fields, "password": PASSWORD, "password_again": PASSWORD}, follow_redirects=False
    )
    cookie = next(h for h in done.headers.get_list("set-cookie") if h.startswith("opentr_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # dev serves plain http; production adds Secure
    value = cookie.split(";")[0].split("=", 1)[1]
    token, _, signature = value.rpartition(".")
    assert len(signature) == 64 and token
    # a tampered signature is no session at all
    client.cookies.clear()
    client.cookies.set("opentr_session", f"{token}.{'0' * 64}")
    assert client.get("/", follow_redirects=False).headers["location"].startswith("/signin")


def test_sign_in_with_a_wrong_password_says_so_and_a_right_one_opens_the_page_asked_for(client: Any) -> None:
    sign_up(client, "sam@example.com")
    client.cookies.clear()
    asked = client.get("/search?q=x", follow_redirects=False)
    assert asked.status_code == 303 and asked.headers["location"] == "/signin?next=%2Fsearch%3Fq%3Dx"
    form = client.get(asked.headers["location"])
    token = csrf_in(form.text)
    wrong = client.post("/signin", data={"csrf": token, "email": "sam@example.com", "password": "nope", "next": "/"})
    assert wrong.status_code == 200 and "do not match an account" in wrong.text
    right = client.post(
        "/signin",
        data={"csrf": token, "email": "sam@example.com", "password": PASSWORD, "next": "/search?q=x"},
        follow_redirects=False,
    )
    assert right.status_code == 303 and right.headers["location"] == "/search?q=x"
    # only paths of this site are followed
    client.cookies.clear()
    token = csrf_in(client.get("/signin").text)
    away = client.post(
        "/signin",
        data={"csrf": token, "email": "sam@example.com", "password": PASSWORD, "next": "//evil.example/x"},
        follow_redirects=False,
    )
    assert away.headers["location"] == "/"


def test_a_form_post_without_the_token_is_refused_and_changes_nothing(client: Any, fresh_url: str) -> None:
    token = sign_up(client)
    file_uuid = a_file(fresh_url, actor_of(client, fresh_url, {}))  # {}: the session cookie signs the request in
    for data in ({"name": "sneaky"}, {"name": "sneaky", "csrf": "forged"}):
        refused = client.post(f"/files/{file_uuid}/tags", data=data, follow_redirects=False)
        assert refused.status_code == 403 and "text/html" in refused.headers["content-type"]
        assert "did not come from this site" in refused.text and "Traceback" not in refused.text
    assert client.get(f"/api/files/{file_uuid}").json()["tags"] == []
    # with the token the same post works
    done = client.post(f"/files/{file_uuid}/tags", data={"name": "kept", "csrf": token}, follow_redirects=False)
    assert done.status_code == 303
    assert client.get(f"/api/files/{file_uuid}").json()["tags"] == ["kept"]


def test_the_api_takes_the_cookie_but_writes_need_the_csrf_header(client: Any) -> None:
    token = sign_up(client)
    assert client.get("/api/users/me").status_code == 200
    refused = client.put("/api/users/me", json={"full_name": "Mallory"})
    assert refused.status_code == 403 and refused.json()["detail"].startswith("this form has expired")
    assert client.get("/api/users/me").json()["full_name"] == "Pat"
    done = client.put("/api/users/me", json={"full_name": "Pat Two"}, headers={"X-CSRF-Token": token})
    assert done.status_code == 200 and done.json()["full_name"] == "Pat Two"
    # a bearer token needs no CSRF header (no browser sends one by itself)
    client.cookies.clear()
    bearer = register(client)
    assert client.put("/api/users/me", json={"full_name": "Bea"}, headers=bearer).status_code == 200


def test_another_users_file_page_is_a_404_page(client: Any, fresh_url: str) -> None:
    other = register(client)
    theirs = a_file(fresh_url, actor_of(client, fresh_url, other))
    client.cookies.clear()
    sign_up(client)
    for path in (f"/files/{theirs}", f"/api/files/{theirs}/content"):
        assert client.get(path).status_code == 404
    page = client.get(f"/files/{theirs}")
    assert "text/html" in page.headers["content-type"] and "Not found" in page.text
    assert client.get("/files/not-a-uuid").status_code == 404
    # their file's forms are 404s too, with a valid token of our own, and change nothing
    token = csrf_in(client.get("/").text)
    for path, data in (
        (f"/files/{theirs}/tags", {"name": "mine now"}),
        (f"/files/{theirs}/comments", {"text": "hello", "timestamp": "1"}),
    ):
        refused = client.post(path, data={**data, "csrf": token})
        assert refused.status_code == 404 and "text/html" in refused.headers["content-type"], path
    with psycopg.connect(fresh_url) as conn:
        counts = conn.execute("SELECT (SELECT count(*) FROM file_tags), (SELECT count(*) FROM comments)").fetchone()
    assert counts == (0, 0)


def test_sign_out_ends_the_session_and_the_file_page_asks_to_sign_in_again(client: Any, fresh_url: str) -> None:
    token = sign_up(client)
    session = client.cookies.get("opentr_session")
    out = client.post("/signout", data={"csrf": token}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/signin"
    # the old cookie, replayed, is revoked server-side: the person is asked to sign in again, told why
    client.cookies.clear()
    client.cookies.set("opentr_session", session)
    again = client.get("/", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == "/signin?next=%2F&expired=1"
    assert "Your session has ended" in client.get(again.headers["location"]).text


def test_unknown_pages_are_html_and_unknown_api_paths_stay_json(client: Any) -> None:
    page = client.get("/no/such/page")
    assert page.status_code == 404 and "There is no page at this address." in page.text
    api = client.get("/api/no/such/route")
    assert api.status_code == 404 and api.headers["content-type"] == "application/json"
    assert client.delete("/api/files").status_code == 405  # the API's method errors are unchanged
    assert '<a href="/register">Register</a>' in page.text and "Open your library" not in page.text


def test_an_unknown_page_knows_who_is_signed_in(client: Any) -> None:
    """Not "Sign in / Register" for someone signed in: their header, and the way on is their library."""
    sign_up(client)
    page = client.get("/no/such/page/会議")
    assert page.status_code == 404 and "There is no page at this address." in page.text
    assert "Open your library" in page.text and "Sign out" in page.text
    assert 'href="/signin"' not in page.text and 'href="/register"' not in page.text
    client.cookies.clear()
    client.cookies.set("opentr_session", "forged.value")  # a cookie that proves nothing: a visitor's page
    forged = client.get("/no/such/page")
    assert forged.status_code == 404 and 'href="/signin"' in forged.text


def test_every_page_renders_for_a_signed_in_user(client: Any, fresh_url: str) -> None:
    sign_up(client)
    for path in ("/", "/upload", "/search", "/search?q=budget", "/collections", "/notifications", "/settings"):
        page = client.get(path)
        assert page.status_code == 200 and "<main" in page.text, path
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert client.get("/admin").status_code == 403  # administrators only


def test_a_file_in_error_says_what_happened_and_offers_a_way_on(client: Any, fresh_url: str) -> None:
    sign_up(client)
    failed = a_file(
        fresh_url, actor_of(client, fresh_url, {}), status="error", last_error_message="the audio stream is unreadable"
    )
    page = client.get(f"/files/{failed}")
    assert page.status_code == 200
    assert "We could not transcribe this file: the audio stream is unreadable" in page.text
    assert 'data-action="retry"' in page.text and 'data-action="delete"' in page.text


def test_uploads_and_media_ranges_work_with_the_cookie(client: Any, app_settings: Any) -> None:
    token = sign_up(client)
    media = wav(1.0)
    files = {"file": ("talk.wav", media, "audio/wav")}
    refused = client.post("/api/files", files=files)
    assert refused.status_code == 403
    assert client.get("/api/files").json()["items"] == []
    assert not [p for p in app_settings.storage_dir.rglob("*") if p.is_file()]  # refused before reading the body
    uploaded = client.post("/api/files", files=files, headers={"X-CSRF-Token": token})
    assert uploaded.status_code == 201, uploaded.text
    part = client.get(f"/api/files/{uploaded.json()['uuid']}/content", headers={"Range": "bytes=0-11"})
    assert part.status_code == 206 and part.content == media[:12]


def test_forged_cookies_and_tokens_outside_ascii_are_refused_not_a_500(client: Any) -> None:
    sign_up(client)
    session = client.cookies.get("opentr_session")
    refused = client.post("/collections/new", data={"csrf": "Grüße-🎙️", "name": "Team"})
    assert refused.status_code == 403 and "did not come from this site" in refused.text
    forged = ("é" * 64).encode()
    api = client.put("/api/users/me", json={"full_name": "Mallory"}, headers={"X-CSRF-Token": forged})
    assert api.status_code == 403
    client.cookies.clear()
    cookie = {"Cookie": b"opentr_session=" + session.rpartition(".")[0].encode() + b"." + forged}
    assert client.get("/", headers=cookie, follow_redirects=False).headers["location"].startswith("/signin")
    assert client.get("/api/users/me", headers=cookie).status_code == 401
    assert client.get("/api/collections", headers={"Cookie": f"opentr_session={session}"}).json() == []
