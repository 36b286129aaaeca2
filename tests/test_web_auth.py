from __future__ import annotations

from typing import Any

import pytest

from repo import schema
from tests.web import PAGE_PASSWORD, csrf_in, make_admin, register, sign_up
from web.auth import record_failure


def test_register_token_me_logout(client: Any) -> None:
    created = client.post(
        "/api/auth/register", json={"email": "Ann@Example.com", "password": "long enough", "full_name": "Ann"}
    )
    assert created.status_code == 201
    body = created.json()
    assert body["email"] == "Ann@example.com" and "hashed_password" not in body and "id" not in body
    form = client.post("/api/auth/token", data={"username": "ann@example.com", "password": "long enough"})
    as_json = client.post("/api/auth/token", json={"username": "ANN@example.com", "password": "long enough"})
    assert form.status_code == as_json.status_code == 200
    assert form.json()["token_type"] == "bearer"
    headers = {"Authorization": f"Bearer {form.json()['access_token']}"}
    assert client.get("/api/users/me", headers=headers).json()["full_name"] == "Ann"
    assert client.post("/api/auth/logout", headers=headers).status_code == 204
    revoked = client.get("/api/users/me", headers=headers)
    assert revoked.status_code == 401 and revoked.headers["www-authenticate"] == "Bearer"
    other = {"Authorization": f"Bearer {as_json.json()['access_token']}"}
    assert client.get("/api/users/me", headers=other).status_code == 200, "logout revokes only its own token"


def test_update_me_changes_the_password(client: Any) -> None:
    headers = register(client, email="bob@example.com")
    new = {"password": "a new password", "full_name": "Bob"}
    for current, field in [(None, "current_password"), ("not my password", "current_password")]:
        refused = client.put("/api/users/me", headers=headers, json={**new, "current_password": current})
        # each field is valid alone; missing or wrong, current_password conflicts with the change: 409
        assert (refused.status_code, refused.json()["field"]) == (409, field), refused.text
    email_change = client.put("/api/users/me", headers=headers, json={"email": "robert@example.com"})
    assert (email_change.status_code, email_change.json()["field"]) == (409, "current_password")
    renamed = client.put("/api/users/me", headers=headers, json={"full_name": "Robert"})
    assert renamed.status_code == 200 and renamed.json()["full_name"] == "Robert", "a name needs no password"
    changed = client.put("/api/users/me", headers=headers, json={**new, "current_password": "correct horse 1"})
    assert changed.status_code == 200 and changed.json()["full_name"] == "Bob"
    assert (
        client.post("/api/auth/token", data={"username": "bob@example.com", "password": "correct horse 1"}).status_code
        == 401
    )
    assert (
        client.post("/api/auth/token", data={"username": "bob@example.com", "password": "a new password"}).status_code
        == 200
    )


def _token(client: Any, email: str, password: str) -> dict[str, str]:
    signed_in = client.post("/api/auth/token", data={"username": email, "password": password})
    assert signed_in.status_code == 200, signed_in.text
    return {"Authorization": f"Bearer {signed_in.json()['access_token']}"}


def test_a_new_password_signs_out_every_other_session_but_the_one_that_changed_it(client: Any) -> None:
    email = "zoë.müller@example.com"
    laptop = register(client, email=email)
    phone, stolen = _token(client, email, "correct horse 1"), _token(client, email, "correct horse 1")
    renamed = client.put("/api/users/me", headers=stolen, json={"full_name": "Zoë 🎻"})
    assert renamed.status_code == 200, "a new name signs nobody out"
    assert client.get("/api/users/me", headers=laptop).status_code == 200
    changed = client.put(
        "/api/users/me", headers=laptop, json={"password": "ein neues Passwort", "current_password": "correct horse 1"}
    )
    assert changed.status_code == 200, changed.text
    assert client.get("/api/users/me", headers=laptop).json()["full_name"] == "Zoë 🎻"
    assert client.get("/api/users/me", headers=phone).status_code == 401
    assert client.get("/api/users/me", headers=stolen).status_code == 401


def test_a_new_password_set_on_the_settings_page_keeps_that_browser_signed_in(client: Any) -> None:
    csrf = sign_up(client, email="kenji@example.com")
    browser = dict(client.cookies)
    client.cookies.clear()  # another device: no cookie of this browser
    other_device = _token(client, "kenji@example.com", PAGE_PASSWORD)
    client.cookies.update(browser)
    saved = client.post(
        "/settings/account",
        data={
            "csrf": csrf,
            "full_name": "健二",
            "password": "新しいパスワード です",
            "current_password": PAGE_PASSWORD,
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    page = client.get("/settings")
    assert page.status_code == 200 and "健二" in page.text, "the browser that changed it stays signed in"
    assert client.get("/api/users/me", headers=other_device).status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not an email", "password": "long enough"}, "email"),
        ({"email": "a@example.com", "password": "short"}, "password"),
        ({"email": "a@example.com"}, "password"),
        ({"email": "a@example.com", "password": "long enough", "full_name": "x" * 201}, "full_name"),
        ({"email": "a@example.com", "password": "long enough", "role": "admin"}, "role"),
        ({"email": 12, "password": "long enough"}, "email"),
    ],
)
def test_bad_registrations_name_the_field(client: Any, body: dict[str, Any], field: str) -> None:
    response = client.post("/api/auth/register", json=body)
    assert response.status_code == 422
    assert response.json()["field"] == field


@pytest.mark.parametrize("raw", [b"{", b"[1, 2]", b"\xff\xfe", b'"text"'])
def test_malformed_json_is_a_4xx(client: Any, raw: bytes) -> None:
    response = client.post("/api/auth/register", content=raw, headers={"content-type": "application/json"})
    assert 400 <= response.status_code < 500
    assert response.json()["field"] == "body"


def test_oversized_body_is_413(client: Any) -> None:
    response = client.post(
        "/api/auth/register",
        content=b"{" + b" " * (2 * 1024 * 1024) + b"}",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413


def test_duplicate_email_is_a_conflict(client: Any) -> None:
    register(client, email="dup@example.com")
    again = client.post("/api/auth/register", json={"email": "DUP@example.com", "password": "long enough"})
    assert again.status_code == 409 and again.json()["field"] == "email"


def test_missing_and_bad_tokens_are_401(client: Any) -> None:
    assert client.get("/api/users/me").status_code == 401
    assert client.get("/api/users/me", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get("/api/users/me", headers={"Authorization": "Basic abc"}).status_code == 401


def test_repeated_wrong_passwords_lock_the_account_for_a_growing_time(client: Any) -> None:
    register(client, email="target@example.com")
    for _ in range(5):
        wrong = client.post("/api/auth/token", data={"username": "target@example.com", "password": "guess"})
        assert wrong.status_code == 401
    locked = client.post("/api/auth/token", data={"username": "target@example.com", "password": "correct horse 1"})
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) >= 1
    # the right password is refused too while the wait lasts: the answer says so, so nobody doubts their password
    assert "the right one too" in locked.json()["detail"]
    other = client.post("/api/auth/token", data={"username": "someone@example.com", "password": "guess"})
    assert other.status_code == 401, "the lock is per account"


def test_admin_routes_refuse_users_and_serve_admins(client: Any, fresh_url: str) -> None:
    user = register(client)
    admin = register(client)
    make_admin(fresh_url, admin, client)
    for method, path in [
        ("GET", "/api/admin/users"),
        ("GET", "/api/admin/stats"),
        ("POST", "/api/admin/users"),
        ("DELETE", "/api/admin/users/" + "0" * 32),
    ]:
        assert client.request(method, path, headers=user, json={}).status_code == 403, path
        assert client.request(method, path).status_code == 401, path
    listed = client.get("/api/admin/users", headers=admin)
    assert listed.status_code == 200 and len(listed.json()) == 2
    made = client.post("/api/admin/users", headers=admin, json={"email": "new@example.com", "password": "long enough"})
    assert made.status_code == 201
    assert client.delete(f"/api/admin/users/{made.json()['uuid']}", headers=admin).status_code == 204
    assert client.delete(f"/api/admin/users/{made.json()['uuid']}", headers=admin).status_code == 404
    assert client.get("/api/admin/stats", headers=admin).json()["users"] == 2


def test_health_reports_every_dependency(client: Any) -> None:
    health = client.get("/api/health").json()
    assert health["database"] == "ok" and health["redis"] == "ok"
    assert health["schema_version"] == schema.read_migrations()[-1].id
    assert health["pool"]["pool_max"] == 4


def test_openapi_document_validates_and_lists_every_route(client: Any) -> None:
    from openapi_spec_validator import validate

    from web.api import all_endpoints

    document = client.get("/api/openapi.json").json()
    validate(document)
    for endpoint in all_endpoints():
        path = endpoint.path
        assert endpoint.method.lower() in document["paths"].get(path, {}) or not endpoint.documented, path
    assert not any("{key}" in path for path in document["paths"]), "each setting is documented on its own path"


def test_an_admin_edits_a_user_and_deactivating_ends_their_sessions_at_once(client: Any, fresh_url: str) -> None:
    admin = register(client)
    make_admin(fresh_url, admin, client)
    email = "carol@example.com"
    carol = register(client, email=email)
    second_session = {
        "Authorization": "Bearer "
        + client.post("/api/auth/token", data={"username": email, "password": "correct horse 1"}).json()["access_token"]
    }
    carol_uuid = client.get("/api/users/me", headers=carol).json()["uuid"]
    path = f"/api/admin/users/{carol_uuid}"

    assert client.put(path, headers=carol, json={"role": "admin"}).status_code == 403
    promoted = client.put(path, headers=admin, json={"role": "admin", "full_name": "Carol"})
    assert promoted.status_code == 200 and (promoted.json()["role"], promoted.json()["full_name"]) == ("admin", "Carol")
    assert client.get("/api/admin/stats", headers=carol).status_code == 200, "the new role applies to her tokens"

    deactivated = client.put(path, headers=admin, json={"is_active": False, "role": "user"})
    assert deactivated.status_code == 200 and deactivated.json()["is_active"] is False
    for session in (carol, second_session):
        assert client.get("/api/users/me", headers=session).status_code == 401
    assert client.post("/api/auth/token", data={"username": email, "password": "correct horse 1"}).status_code == 401
    reactivated = client.put(path, headers=admin, json={"is_active": True})
    assert reactivated.status_code == 200
    for session in (carol, second_session):
        assert client.get("/api/users/me", headers=session).status_code == 401, "revoked tokens stay revoked"

    fresh = client.post("/api/auth/token", data={"username": email, "password": "correct horse 1"})
    assert fresh.status_code == 200
    reset = client.put(path, headers=admin, json={"password": "reset by admin"})
    assert reset.status_code == 200
    fresh_headers = {"Authorization": f"Bearer {fresh.json()['access_token']}"}
    assert client.get("/api/users/me", headers=fresh_headers).status_code == 401, "a reset ends the sessions too"
    assert client.post("/api/auth/token", data={"username": email, "password": "reset by admin"}).status_code == 200

    admin_uuid = client.get("/api/users/me", headers=admin).json()["uuid"]
    for change in ({"role": "user"}, {"is_active": False}):
        refused = client.put(f"/api/admin/users/{admin_uuid}", headers=admin, json=change)
        assert (refused.status_code, refused.json()["field"]) == (409, "role"), refused.text
    short = client.put(path, headers=admin, json={"password": "short"})
    assert (short.status_code, short.json()["field"]) == (422, "password")
    assert client.put(f"/api/admin/users/{'0' * 32}", headers=admin, json={"full_name": "x"}).status_code == 404


def test_the_sign_in_page_says_the_wait_refuses_the_right_password_too(client: Any) -> None:
    register(client, email="locked@example.com")
    form = client.get("/signin")
    fields = {"csrf": csrf_in(form.text), "email": "locked@example.com", "next": "/"}
    for _ in range(5):
        wrong = client.post("/signin", data={**fields, "password": "guess"})
        assert wrong.status_code == 200 and "do not match an account" in wrong.text
    for _ in range(4):  # four more failures: a 16 s wait, which outlasts a slow test machine
        record_failure(client.app.state.services.redis, "locked@example.com")
    right = client.post("/signin", data={**fields, "password": "correct horse 1"}, follow_redirects=False)
    assert right.status_code == 429 and int(right.headers["retry-after"]) >= 1
    assert "every password is refused, the right one too" in right.text
    assert 'name="password"' in right.text and 'value="locked@example.com"' in right.text  # the form again
    assert "opentr_session" not in right.headers.get("set-cookie", "")


@pytest.mark.parametrize("email", ["ann.example.com", "ann@", "ann@localhost", "ann @example.com", "a@b@example.com"])
def test_a_malformed_email_is_refused_in_words_by_the_api_and_the_register_page(client: Any, email: str) -> None:
    words = "an address needs one @ and a domain, like ann@example.com"
    refused = client.post("/api/auth/register", json={"email": email, "password": "long enough", "full_name": "A"})
    assert refused.status_code == 422 and refused.json()["field"] == "email"
    assert refused.json()["detail"].startswith(f"email: {words}") and "^" not in refused.json()["detail"]
    form = client.get("/register")
    fields = {"csrf": csrf_in(form.text), "email": email, "full_name": "Ann", "password": "long enough"}
    page = client.post("/register", data={**fields, "password_again": "long enough"})
    assert page.status_code == 200 and f"Email: {words}" in page.text and "pattern" not in page.text
    assert client.get("/api/users/me").status_code == 401  # nobody was signed in
