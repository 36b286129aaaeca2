"""Helpers for tests that drive the HTTP API."""

from __future__ import annotations

import re
import secrets
from typing import Any

import psycopg

from repo.rows import Actor
from tests import factories


def register(client: Any, email: str | None = None, password: str = "correct horse 1") -> dict[str, str]:
    """Register a user and sign in; returns the Authorization header."""
    email = email or f"{secrets.token_hex(5)}@example.com"
    created = client.post("/api/auth/register", json={"email": email, "password": password, "full_name": "T"})
    assert created.status_code == 201, created.text
    token = client.post("/api/auth/token", data={"username": email, "password": password})
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def make_admin(conninfo: str, headers: dict[str, str], client: Any) -> None:
    email = client.get("/api/users/me", headers=headers).json()["email"]
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("UPDATE users SET role = 'admin' WHERE email = %s", [email])


def actor_of(client: Any, conninfo: str, headers: dict[str, str]) -> Actor:
    """The Actor (id, admin flag) behind an API user's token, for arranging rows with factories."""
    email = client.get("/api/users/me", headers=headers).json()["email"]
    with psycopg.connect(conninfo) as conn:
        row = conn.execute("SELECT id, role = 'admin' FROM users WHERE email = %s", [email]).fetchone()
    assert row is not None
    return Actor(row[0], row[1])


def signed_in(client: Any, conninfo: str) -> tuple[dict[str, str], Actor]:
    """A user registered through the API: their auth headers and the Actor that factories take."""
    headers = register(client)
    return headers, actor_of(client, conninfo, headers)


def a_file(conninfo: str, owner: Actor, **columns: Any) -> str:
    """A media file row owned by `owner` (no upload); its uuid as the API shows it."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        _, file_uuid = factories.media_file(conn, owner, **columns)
    return str(file_uuid)


PAGE_PASSWORD = "correct horse 1"


def csrf_in(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:2000]
    return found.group(1)


def sign_up(client: Any, email: str | None = None) -> str:
    """Register through the page, as a browser does; returns the CSRF token of the signed-in session."""
    form = client.get("/register")
    assert form.status_code == 200 and "text/html" in form.headers["content-type"]
    email = email or f"{secrets.token_hex(5)}@example.com"
    fields = {"csrf": csrf_in(form.text), "email": email, "full_name": "Pat", "password": PAGE_PASSWORD}
    done = client.post("/register", data={**fields, "password_again": PAGE_PASSWORD}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/", done.text
    library = client.get("/")
    assert library.status_code == 200 and "Library" in library.text
    return csrf_in(library.text)
