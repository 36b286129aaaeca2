"""Helpers for tests that drive the HTTP API."""

from __future__ import annotations

import secrets
from typing import Any

import psycopg


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
