"""Two factors (RFC 6238 codes and one-time recovery codes): setting them up, signing in with them through the API and
the pages, what an administrator requires, and the attacks of issue 24 — a wrong code ten times (throttled like a
password), a replayed code, a reused recovery code — each refused with a clear error and a row on the audit trail.

Codes are computed with pyotp from the secret the server handed out, as an authenticator app would.
"""

from __future__ import annotations

import re
import secrets
import time
from typing import Any

import psycopg
import pyotp
import pytest
from redis import Redis

from credentials.sealing import DecryptionError
from repo.database import Database
from repo.two_factor import TwoFactorRepository, rotate_keys
from tests import factories
from tests.web import PAGE_PASSWORD, csrf_in, make_admin, register

PASSWORD = "correct horse 1"


def _email(name: str) -> str:
    return f"{name}-{secrets.token_hex(3)}@example.com"


def code(secret: str, steps: int = 0) -> str:
    """The code an app shows `steps` periods from now; waits out the last second of a period first, so the code
    still stands for the intended step when the server checks it."""
    if time.time() % 30 > 28.5:
        time.sleep(30 - time.time() % 30 + 0.1)
    return pyotp.TOTP(secret).at(time.time() + 30 * steps)


def audit_rows(url: str, action: str, user_email: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    """(outcome, details) of the trail's rows of `action`, oldest first; only the account's, when named."""
    query = "SELECT a.outcome, a.details FROM audit_log a LEFT JOIN users u ON u.id = a.actor_id WHERE a.action = %s"
    params: list[Any] = [action]
    if user_email is not None:
        query += " AND lower(u.email) = lower(%s)"
        params.append(user_email)
    with psycopg.connect(url) as conn:
        return [(r[0], r[1]) for r in conn.execute(query + " ORDER BY a.id", params)]


def token_of(client: Any, email: str, **second: str) -> Any:
    return client.post("/api/auth/token", json={"username": email, "password": PASSWORD, **second})


def enrolled(client: Any, name: str = "ann") -> tuple[str, dict[str, str], str, list[str]]:
    """A new account with two factors on: its email, headers, TOTP secret and recovery codes. The code confirming
    the secret is the previous period's, so the current one is still unused for the test."""
    email = _email(name)
    headers = register(client, email)
    started = client.post("/api/users/me/two-factor/start", headers=headers)
    assert started.status_code == 200, started.text
    body = started.json()
    secret = body["secret"]
    assert body["otpauth_uri"].startswith("otpauth://totp/") and f"secret={secret}" in body["otpauth_uri"]
    assert body["qr_svg"].startswith("data:image/svg+xml")
    confirmed = client.post("/api/users/me/two-factor/confirm", headers=headers, json={"otp": code(secret, -1)})
    assert confirmed.status_code == 200, confirmed.text
    codes = confirmed.json()["recovery_codes"]
    return email, headers, secret, codes


def test_setting_up_two_factors_then_signing_in_with_a_code_and_a_replay_refused(client: Any, fresh_url: str) -> None:
    email, headers, secret, codes = enrolled(client)
    assert len(codes) == 10 and len(set(codes)) == 10 and all(re.fullmatch(r"(\w{4}-){3}\w{4}", c) for c in codes)
    state = client.get("/api/users/me/two-factor", headers=headers).json()
    assert state["enabled"] is True and state["recovery_codes_left"] == 10 and state["required"] is False
    with psycopg.connect(fresh_url) as conn:
        stored = conn.execute(
            "SELECT t.secret_sealed, array_agg(r.code_hash) FROM user_two_factor t JOIN users u ON u.id = t.user_id "
            "JOIN recovery_codes r ON r.user_id = u.id WHERE u.email = %s GROUP BY 1",
            [email],
        ).fetchone()
    assert stored is not None
    assert secret.encode() not in bytes(stored[0]), "the secret is sealed, not stored"
    assert not any(c.encode() in bytes(h) for c in codes for h in stored[1]), "recovery codes are stored hashed"

    missing = token_of(client, email)
    assert missing.status_code == 401 and missing.json()["field"] == "otp"
    assert "6-digit code" in missing.json()["detail"]
    now = code(secret)
    signed_in = token_of(client, email, otp=now)
    assert signed_in.status_code == 200, signed_in.text
    assert client.get(
        "/api/users/me", headers={"Authorization": f"Bearer {signed_in.json()['access_token']}"}
    ).is_success
    replayed = token_of(client, email, otp=now)
    assert replayed.status_code == 401 and replayed.json()["field"] == "otp"
    assert "used already" in replayed.json()["detail"]
    assert token_of(client, email, otp=code(secret, 1)).status_code == 200, "the next period's code is a new one"

    rows = audit_rows(fresh_url, "signin.totp", email)
    assert [outcome for outcome, _ in rows] == ["failure", "success", "failure", "success"]
    assert rows[2][1]["reason"].startswith("this code was used already")
    assert audit_rows(fresh_url, "two_factor.enable", email) == [("success", {})]


def test_a_wrong_code_ten_times_locks_the_second_factor_like_a_password(
    client: Any, fresh_url: str, redis_url: str
) -> None:
    email, _, secret, _ = enrolled(client, "brute")
    redis = Redis.from_url(redis_url)
    right = code(secret)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    statuses = []
    for attempt in range(10):
        statuses.append(token_of(client, email, otp=wrong).status_code)
        if attempt >= 4:  # each lock after the fifth failure is waited out (taken away here, not slept through)
            for key in redis.scan_iter("opentr:second_factor:locked:*"):
                redis.delete(key)
    assert statuses == [401] * 10
    for key in redis.scan_iter("opentr:second_factor:locked:*"):
        redis.delete(key)
    token_of(client, email, otp=wrong)  # the 11th failure: locked for 2^6 s
    locked = token_of(client, email, otp=right)
    assert locked.status_code == 429, locked.text
    assert int(locked.headers["retry-after"]) > 30 and "every code is refused" in locked.json()["detail"]
    other = token_of(client, email, recovery_code="abcd-efgh-jkmn-pqrs")
    assert other.status_code == 429, "a recovery code is a second factor too: locked alike"
    rows = audit_rows(fresh_url, "signin.totp", email)
    assert [o for o, _ in rows].count("failure") == 11 and rows[-1][0] == "refused"
    assert rows[-1][1]["reason"] == "locked" and rows[10][1]["locked_for"] == 64
    assert audit_rows(fresh_url, "signin.recovery_code", email)[-1][0] == "refused"
    assert client.post("/api/auth/token", data={"username": email, "password": "not it"}).status_code == 401, (
        "the password is counted apart: wrong codes do not lock it"
    )


def test_a_recovery_code_works_once(client: Any, fresh_url: str) -> None:
    email, headers, _, codes = enrolled(client, "zoë")
    used = token_of(client, email, recovery_code=codes[3].upper().replace("-", " "))
    assert used.status_code == 200, "any case, dashes or spaces"
    again = token_of(client, email, recovery_code=codes[3])
    assert again.status_code == 401 and again.json()["field"] == "recovery_code"
    assert "used already" in again.json()["detail"]
    unknown = token_of(client, email, recovery_code="aaaa-bbbb-cccc-dddd")
    assert unknown.status_code == 401 and unknown.json()["detail"] == "wrong recovery code"
    assert client.get("/api/users/me/two-factor", headers=headers).json()["recovery_codes_left"] == 9
    rows = audit_rows(fresh_url, "signin.recovery_code", email)
    assert [o for o, _ in rows] == ["success", "failure", "failure"]
    assert rows[0][1] == {"first_factor": "password", "recovery_codes_left": 9}


def test_new_recovery_codes_and_turning_off_need_a_code_or_the_password(client: Any, fresh_url: str) -> None:
    email, headers, secret, codes = enrolled(client, "müller")
    proofless = client.post("/api/users/me/two-factor/recovery-codes", headers=headers, json={})
    assert proofless.status_code == 409 and proofless.json()["field"] == "otp"
    wrong = client.post("/api/users/me/two-factor/disable", headers=headers, json={"password": "nicht es"})
    assert wrong.status_code == 409 and wrong.json()["field"] == "password"
    fresh = client.post("/api/users/me/two-factor/recovery-codes", headers=headers, json={"otp": code(secret)})
    assert fresh.status_code == 200 and not set(fresh.json()["recovery_codes"]) & set(codes)
    assert token_of(client, email, recovery_code=codes[0]).status_code == 401, "the old codes stop working"
    off = client.post("/api/users/me/two-factor/disable", headers=headers, json={"password": PASSWORD})
    assert off.status_code == 200 and off.json()["enabled"] is False
    assert token_of(client, email).status_code == 200, "the password alone signs in again"
    assert [o for o, _ in audit_rows(fresh_url, "two_factor.recovery_codes", email)] == ["success"]
    assert audit_rows(fresh_url, "two_factor.disable", email) == [
        ("refused", {"reason": "wrong password"}),
        ("success", {}),
    ]


def test_an_administrator_requires_two_factors_of_one_account(client: Any, fresh_url: str) -> None:
    admin = register(client, _email("admin"))
    make_admin(fresh_url, admin, client)
    email = _email("jürgen")
    register(client, email)
    uuid = client.get("/api/admin/users", headers=admin).json()[-1]["uuid"]
    required = client.put(f"/api/admin/users/{uuid}", headers=admin, json={"two_factor_required": True})
    assert required.status_code == 200, required.text
    assert audit_rows(fresh_url, "admin.user_update") == [("success", {"two_factor_required": True, "email": email})]

    refused = token_of(client, email)
    assert refused.status_code == 403 and refused.json()["field"] == "otp"
    assert "must sign in with two factors" in refused.json()["detail"] and "/signin" in refused.json()["detail"]
    assert audit_rows(fresh_url, "signin.totp", email)[-1] == (
        "refused",
        {"reason": "two factors required, none set up"},
    )

    # the browser sets them up right after the password, then is signed in
    page = client.get("/signin")
    answered = client.post("/signin", data={"csrf": csrf_in(page.text), "email": email, "password": PAGE_PASSWORD})
    assert answered.status_code == 200 and "Set up two factors" in answered.text
    secret = re.search(r'id="totp-secret">(\w+)<', answered.text)
    assert secret is not None and 'src="data:image/svg+xml' in answered.text
    done = client.post("/signin/two-factor", data={"csrf": csrf_in(answered.text), "otp": code(secret.group(1))})
    assert done.status_code == 200 and "Your recovery codes" in done.text
    assert len(re.findall(r"<li><code>(\w{4}-\w{4}-\w{4}-\w{4})</code></li>", done.text)) == 10
    settings = client.get("/settings")
    assert settings.status_code == 200 and "Recovery codes left: 10" in settings.text

    client.cookies.clear()  # the API with a bearer token, as a program would
    turned_off = client.post(
        "/api/users/me/two-factor/disable", headers=token_headers(client, email, secret.group(1)), json={}
    )
    assert turned_off.status_code == 409 and "administrator requires" in turned_off.json()["detail"]


def token_headers(client: Any, email: str, secret: str) -> dict[str, str]:
    signed_in = token_of(client, email, otp=code(secret, 1))
    assert signed_in.status_code == 200, signed_in.text
    return {"Authorization": f"Bearer {signed_in.json()['access_token']}"}


def test_an_administrator_requires_two_factors_of_everyone(client: Any, fresh_url: str) -> None:
    admin = register(client, _email("admin"))
    make_admin(fresh_url, admin, client)
    email = _email("مريم")
    register(client, email)
    someone = register(client)  # signed in before the rule: their token stays valid until it ends
    assert client.get("/api/admin/instance-settings", headers=admin).json() == {"two_factor_required": False}
    on = client.put("/api/admin/instance-settings", headers=admin, json={"two_factor_required": True})
    assert on.status_code == 200 and on.json() == {"two_factor_required": True}
    assert audit_rows(fresh_url, "settings.update") == [("success", {"before": False, "after": True})]
    not_admin = client.put("/api/admin/instance-settings", headers=someone, json={"two_factor_required": False})
    assert not_admin.status_code == 403
    assert token_of(client, email).status_code == 403
    form = client.get("/register")
    fields = {"csrf": csrf_in(form.text), "email": _email("新人"), "full_name": "新人 🌱", "password": PAGE_PASSWORD}
    registered = client.post("/register", data={**fields, "password_again": PAGE_PASSWORD})
    assert "Set up two factors" in registered.text and "opentr_session" not in client.cookies
    admin_page = client.get("/admin", headers=admin)
    assert admin_page.status_code == 200 and "Two factors required for everyone" in admin_page.text
    off = client.put("/api/admin/instance-settings", headers=admin, json={"two_factor_required": False})
    assert off.json() == {"two_factor_required": False}
    assert token_of(client, email).status_code == 200


def test_the_browser_signs_in_in_two_steps_and_the_pending_state_is_used_once(client: Any, fresh_url: str) -> None:
    email, _, secret, _ = enrolled(client, "kenji-日本")
    page = client.get("/signin")
    fields = {"csrf": csrf_in(page.text), "email": email, "password": PAGE_PASSWORD, "next": "/settings"}
    first = client.post("/signin", data=fields)
    assert first.status_code == 200 and "Your code" in first.text
    assert "opentr_session" not in client.cookies, "no session before the second factor"
    pending = client.cookies.get("opentr_second_factor", path="/signin")
    assert pending
    csrf = csrf_in(first.text)
    wrong = client.post("/signin/two-factor", data={"csrf": csrf, "otp": "000000"})
    assert wrong.status_code == 200 and "Wrong code." in wrong.text and "opentr_session" not in client.cookies
    right = client.post("/signin/two-factor", data={"csrf": csrf, "otp": code(secret)}, follow_redirects=False)
    assert right.status_code == 303 and right.headers["location"] == "/settings"
    assert "opentr_session" in client.cookies
    assert client.get("/settings").status_code == 200
    client.cookies.clear()
    client.cookies.set("opentr_second_factor", pending, path="/signin")
    again = client.get("/signin/two-factor")
    assert again.status_code == 200 and "took too long or has ended" in again.text, "the pending state is used once"
    forged = pending[:-1] + ("0" if pending[-1] != "0" else "1")
    client.cookies.set("opentr_second_factor", forged, path="/signin")
    assert "took too long or has ended" in client.get("/signin/two-factor").text
    rows = audit_rows(fresh_url, "signin.totp", email)
    assert [o for o, _ in rows] == ["failure", "success"]
    assert [o for o, _ in audit_rows(fresh_url, "signin.password", email)] == ["success", "success"], (
        "the registration's sign-in and the browser's, each once"
    )


def test_settings_page_sets_two_factors_up(client: Any) -> None:
    email = _email("émilie")
    page = client.get("/register")
    fields = {"csrf": csrf_in(page.text), "email": email, "full_name": "Émilie 🎻", "password": PAGE_PASSWORD}
    client.post("/register", data={**fields, "password_again": PAGE_PASSWORD})
    settings = client.get("/settings")
    assert 'href="/settings/two-factor"' in settings.text and "Sessions" in settings.text
    started = client.post("/settings/two-factor/start", data={"csrf": csrf_in(settings.text)})
    secret = re.search(r'id="totp-secret">(\w+)<', started.text)
    assert started.status_code == 200 and secret is not None
    wrong = client.post("/settings/two-factor/confirm", data={"csrf": csrf_in(started.text), "otp": "12345"})
    assert wrong.status_code == 200 and "does not match the new secret" in wrong.text
    done = client.post("/settings/two-factor/confirm", data={"csrf": csrf_in(started.text), "otp": code(secret[1])})
    assert done.status_code == 200 and "Your recovery codes" in done.text
    assert "Two factors are <strong>on</strong>" in client.get("/settings/two-factor").text


def test_rotating_the_master_key_reseals_the_secrets(db: Database) -> None:
    old, new = b"the old master key, long enough", b"the new master key, long enough"
    with db.acting_as_system(), db.transaction() as conn:
        person = factories.user(conn, email="rotation-ä@example.org")
        secret = TwoFactorRepository(conn, old).start(person.id, "rotation-ä@example.org").secret
        assert TwoFactorRepository(conn, old).confirm(person.id, pyotp.TOTP(secret).at(time.time() - 30))
    with db.acting_as_system(), db.transaction() as conn:
        assert rotate_keys(conn, old, new) == 1
        assert rotate_keys(conn, old, new) == 0, "what is under the new key is left alone"
    with db.acting_as_system(), db.transaction() as conn:
        assert TwoFactorRepository(conn, new).check_code(person.id, code(secret)) == "ok"
        with pytest.raises(DecryptionError):
            TwoFactorRepository(conn, old).check_code(person.id, code(secret, 1))
