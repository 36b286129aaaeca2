"""Password reset by e-mail, through a real SMTP server on loopback (aiosmtpd, tests/mail_support.py): the link is read
from the mail received and used. The attacks of issue 24: a reset token used twice or after it expired, and no
account-existence leak (the same answer for a known and an unknown address) — each refused and on the audit trail.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from redis import Redis
from starlette.testclient import TestClient

from config.settings import Settings
from tests.mail_support import MailCatcher
from tests.test_two_factor import audit_rows
from tests.web import csrf_in, register
from web.app import create_app

PUBLIC_URL = "https://transcripts.example.org"


@pytest.fixture
def mail() -> Iterator[MailCatcher]:
    with MailCatcher() as catcher:
        yield catcher


@pytest.fixture
def mailing(app_settings: Settings, mail: MailCatcher, redis_url: str) -> Iterator[Any]:
    """The app with its SMTP settings pointing at the catcher."""
    for key in Redis.from_url(redis_url).scan_iter("opentr:rate:reset:*"):
        Redis.from_url(redis_url).delete(key)
    settings = app_settings.model_copy(
        update={
            "opentr_smtp_host": mail.host,
            "opentr_smtp_port": mail.port,
            "opentr_smtp_starttls": False,
            "opentr_smtp_from": "Transkripte <noreply@example.org>",
            "opentr_public_url": PUBLIC_URL + "/",
        }
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _link_token(text: str) -> str:
    found = re.search(re.escape(PUBLIC_URL) + r"/reset\?token=([\w-]+)", text)
    assert found, text
    return found.group(1)


def test_the_link_in_the_mail_sets_a_new_password_once_and_ends_every_session(
    mailing: Any, mail: MailCatcher, fresh_url: str
) -> None:
    email = f"jürgen.müller-{secrets.token_hex(3)}@example.org"
    created = mailing.post(
        "/api/auth/register", json={"email": email, "password": "altes Passwort", "full_name": "Jürgen 😀 مريم 日本"}
    )
    assert created.status_code == 201
    session = mailing.post("/api/auth/token", data={"username": email, "password": "altes Passwort"}).json()
    unknown_email = f"niemand-{secrets.token_hex(3)}@example.org"

    for_unknown = mailing.post("/api/auth/password-reset", json={"email": unknown_email})
    for_known = mailing.post("/api/auth/password-reset", json={"email": email.upper()})
    assert for_known.status_code == for_unknown.status_code == 202
    assert for_known.json() == for_unknown.json(), "the answer does not tell whether the account exists"
    assert dict(for_known.headers).keys() == dict(for_unknown.headers).keys()

    received = mail.wait_for(email)
    assert received["Subject"] == "Choose a new password" and "noreply@example.org" in received["From"]
    text = received.get_content()
    assert "Jürgen 😀 مريم 日本" in text and "60 minutes" in text
    token = _link_token(text)
    assert unknown_email not in mail.recipients(), "no mail to an address without an account"
    with psycopg.connect(fresh_url) as conn:
        stored = conn.execute("SELECT token_hash FROM password_resets").fetchall()
    assert len(stored) == 1 and token.encode() not in bytes(stored[0][0]), "only the token's hash is stored"

    done = mailing.post("/api/auth/password-reset/confirm", json={"token": token, "password": "neues Passwort ✓"})
    assert done.status_code == 204, done.text
    bearer = {"Authorization": f"Bearer {session['access_token']}"}
    assert mailing.get("/api/users/me", headers=bearer).status_code == 401, "every session of the account ended"
    assert mailing.post("/api/auth/token", data={"username": email, "password": "altes Passwort"}).status_code == 401
    assert mailing.post("/api/auth/token", data={"username": email, "password": "neues Passwort ✓"}).status_code == 200

    again = mailing.post("/api/auth/password-reset/confirm", json={"token": token, "password": "noch ein Passwort"})
    assert again.status_code == 410 and again.json()["field"] == "token" and "used already" in again.json()["detail"]
    forged = mailing.post("/api/auth/password-reset/confirm", json={"token": token[:-2] + "xx", "password": "12345678"})
    assert forged.status_code == 404 and forged.json()["field"] == "token"

    requests = audit_rows(fresh_url, "password_reset.request")
    assert [o for o, _ in requests] == ["failure", "success"] and requests[0][1] == {"email": unknown_email}
    uses = audit_rows(fresh_url, "password_reset.use")
    assert [(o, d.get("reason")) for o, d in uses] == [("success", None), ("refused", "used"), ("refused", "unknown")]


def test_an_expired_link_is_refused(mailing: Any, mail: MailCatcher, fresh_url: str) -> None:
    email = f"zoë-{secrets.token_hex(3)}@example.org"
    register(mailing, email)
    assert mailing.post("/api/auth/password-reset", json={"email": email}).status_code == 202
    token = _link_token(mail.wait_for(email).get_content())
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        conn.execute("UPDATE password_resets SET expires_at = now() - interval '1 second'")
    expired = mailing.post("/api/auth/password-reset/confirm", json={"token": token, "password": "ein neues Wort"})
    assert expired.status_code == 410 and expired.json()["field"] == "token" and "expired" in expired.json()["detail"]
    assert mailing.post("/api/auth/token", data={"username": email, "password": "correct horse 1"}).status_code == 200
    assert audit_rows(fresh_url, "password_reset.use")[-1] == ("refused", {"reason": "expired"})


def test_requests_are_limited_alike_for_known_and_unknown_addresses(mailing: Any, mail: MailCatcher) -> None:
    known = f"kenji-{secrets.token_hex(3)}@example.org"
    register(mailing, known)
    unknown = f"nobody-{secrets.token_hex(3)}@example.org"
    answers = {
        address: [mailing.post("/api/auth/password-reset", json={"email": address}).status_code for _ in range(4)]
        for address in (known, unknown)
    }
    assert answers == {known: [202, 202, 202, 429], unknown: [202, 202, 202, 429]}
    mail.wait_for(known)


def test_without_smtp_settings_a_reset_request_says_so(client: Any) -> None:
    refused = client.post("/api/auth/password-reset", json={"email": "anyone@example.org"})
    assert refused.status_code == 503 and "e-mail is not configured (OPENTR_SMTP_HOST)" in refused.json()["detail"]


def test_the_pages_forgot_and_reset(mailing: Any, mail: MailCatcher) -> None:
    email = f"émilie-{secrets.token_hex(3)}@example.org"
    register(mailing, email)
    signin = mailing.get("/signin")
    assert 'href="/forgot"' in signin.text
    forgot = mailing.get("/forgot")
    sent = mailing.post("/forgot", data={"csrf": csrf_in(forgot.text), "email": email})
    assert sent.status_code == 202 and "a link to choose a new password is on its way" in sent.text
    token = _link_token(mail.wait_for(email).get_content())
    page = mailing.get(f"/reset?token={token}")
    assert page.status_code == 200 and f'value="{token}"' in page.text
    fields = {"csrf": csrf_in(page.text), "token": token, "password": "Größe 12345"}
    differ = mailing.post("/reset", data={**fields, "password_again": "Größe 1234"})
    assert "The two passwords differ" in differ.text
    done = mailing.post("/reset", data={**fields, "password_again": "Größe 12345"}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/signin?reset=1"
    assert "Your new password is set" in mailing.get("/signin?reset=1").text
    used = mailing.post("/reset", data={**fields, "password_again": "Größe 12345"})
    assert used.status_code == 410 and "used already" in used.text
