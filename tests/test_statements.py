from __future__ import annotations

import logging
import uuid
from typing import Any

import psycopg
import pytest

from repo import statements
from repo.errors import Conflict, Invalid, NotFound
from repo.rows import Actor
from repo.users import UserRepository


def test_unique_violation_is_a_conflict_naming_the_field(conn: psycopg.Connection[Any]) -> None:
    users = UserRepository(conn)
    users.create("dup@example.com", "password1")
    with pytest.raises(Conflict) as info, conn.transaction():
        users.create("DUP@example.com", "password2")
    assert info.value.field == "email"


def test_check_violation_is_invalid(conn: psycopg.Connection[Any]) -> None:
    with pytest.raises(Invalid), conn.transaction():
        UserRepository(conn).create("not-an-email", "password1")


def test_missing_row_is_not_found(conn: psycopg.Connection[Any]) -> None:
    users = UserRepository(conn)
    with pytest.raises(NotFound):
        users.get(Actor(1, is_admin=True), uuid.uuid4())


def test_rows_are_typed_objects_not_tuples(conn: psycopg.Connection[Any]) -> None:
    user = UserRepository(conn).create("typed@example.com", "password1", "Ty Ped")
    assert type(user).__name__ == "User"
    assert user.full_name == "Ty Ped" and isinstance(user.uuid, uuid.UUID)


def test_slow_queries_are_logged_with_name_and_duration(
    conn: psycopg.Connection[Any], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(statements, "SLOW_QUERY_MS", 0.0)
    with caplog.at_level(logging.WARNING, logger="opentr.sql"):
        UserRepository(conn).create("slow@example.com", "password1")
    assert any("slow query users.create took" in r.getMessage() and "ms" in r.getMessage() for r in caplog.records)
    assert not any("password1" in r.getMessage() for r in caplog.records)


def test_observers_see_every_statement(conn: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    monkeypatch.setattr(statements, "observers", [lambda name, ms: seen.append(name)])
    users = UserRepository(conn)
    user = users.create("obs@example.com", "password1")
    users.get(user.actor, user.uuid)
    assert seen == ["users.create", "users.get_by_uuid"]
