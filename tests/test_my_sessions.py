"""A person's sessions: listed with how, with what and from where each signed in, the current one marked; ending one
(its token stops working at once) or every other; nobody ends another's; each end on the audit trail."""

from __future__ import annotations

import secrets
from typing import Any

from tests.test_two_factor import audit_rows
from tests.web import csrf_in, register, sign_up

PASSWORD = "correct horse 1"


def _token(client: Any, email: str, agent: str) -> dict[str, str]:
    """Signed in from a program whose User-Agent is `agent` (sent as UTF-8, as phones name their models)."""
    signed_in = client.post(
        "/api/auth/token",
        data={"username": email, "password": PASSWORD},
        headers={"User-Agent": agent.encode()},
    )
    assert signed_in.status_code == 200, signed_in.text
    return {"Authorization": f"Bearer {signed_in.json()['access_token']}"}


def test_listing_and_ending_sessions(client: Any, fresh_url: str) -> None:
    email = f"amira-{secrets.token_hex(3)}@example.org"
    laptop = register(client, email)
    phone = _token(client, email, "Mozilla/5.0 (iPhone; 会議室 🎙) Safari")
    script = _token(client, email, "curl/8.5 (de-DE)")
    listed = client.get("/api/users/me/sessions", headers=laptop)
    assert listed.status_code == 200
    sessions = listed.json()
    assert len(sessions) == 3 and [s["current"] for s in sessions] == [False, False, True]
    assert (
        sessions[0]["user_agent"] == "curl/8.5 (de-DE)"
        and sessions[1]["user_agent"] == "Mozilla/5.0 (iPhone; 会議室 🎙) Safari"
    )
    assert {(s["kind"], s["method"]) for s in sessions} == {("api", "password")}
    assert all("id" not in s and "token_hash" not in s for s in sessions)

    someone = register(client)
    theirs = client.delete(f"/api/users/me/sessions/{sessions[1]['uuid']}", headers=someone)
    assert theirs.status_code == 404, "another person's session is not found"
    assert client.get("/api/users/me", headers=phone).status_code == 200

    ended = client.delete(f"/api/users/me/sessions/{sessions[1]['uuid']}", headers=laptop)
    assert ended.status_code == 204
    assert client.get("/api/users/me", headers=phone).status_code == 401, "an ended session's token stops working"
    assert client.delete(f"/api/users/me/sessions/{sessions[1]['uuid']}", headers=laptop).status_code == 404
    others = client.delete("/api/users/me/sessions", headers=laptop)
    assert others.status_code == 200 and others.json() == {"ended": 1}
    assert client.get("/api/users/me", headers=script).status_code == 401
    assert [s["current"] for s in client.get("/api/users/me/sessions", headers=laptop).json()] == [True]
    rows = audit_rows(fresh_url, "session.end", email)
    assert rows == [("success", {"kind": "api", "method": "password"}), ("success", {"ended": 1})]


def test_the_settings_page_lists_sessions_and_ends_them(client: Any) -> None:
    email = f"björn-{secrets.token_hex(3)}@example.org"
    csrf = sign_up(client, email)
    browser = dict(client.cookies)
    client.cookies.clear()
    program = _token(client, email, "Example-client 1.0")
    client.cookies.update(browser)
    page = client.get("/settings")
    assert page.status_code == 200 and "Example-client 1.0" in page.text and "this one" in page.text
    sessions = client.get("/api/users/me/sessions", headers={"X-CSRF-Token": csrf}).json()
    other = next(s for s in sessions if not s["current"])
    ended = client.post(f"/settings/sessions/{other['uuid']}/end", data={"csrf": csrf}, follow_redirects=False)
    assert ended.status_code == 303 and ended.headers["location"] == "/settings#sessions"
    client.cookies.clear()
    assert client.get("/api/users/me", headers=program).status_code == 401
    client.cookies.update(browser)
    mine = next(s for s in sessions if s["current"])
    signed_out = client.post(f"/settings/sessions/{mine['uuid']}/end", data={"csrf": csrf}, follow_redirects=False)
    assert signed_out.status_code == 303 and signed_out.headers["location"] == "/signin"
    client.cookies.update(browser)
    assert client.get("/settings", follow_redirects=False).status_code == 303, "this browser is signed out"
    assert csrf_in(client.get("/signin").text)
