"""A test database handed back is reused only in the template's exact state; anything else is dropped."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from repo import schema
from tests.database_recycling import DatabaseRecycler


@pytest.fixture
def recycling(server_url: str, template_name: str) -> Iterator[DatabaseRecycler]:
    """A recycler of its own, so what these tests hand back never reaches another test."""
    own = DatabaseRecycler(server_url, schema.with_database(server_url, template_name), template_name)
    yield own
    own.close()


def _state(url: str) -> dict[str, Any]:
    with psycopg.connect(url, autocommit=True) as conn:
        return {
            "users": conn.execute("SELECT count(*) FROM users").fetchall(),
            "audit": conn.execute("SELECT count(*) FROM audit_log").fetchall(),
            "prompts": conn.execute("SELECT id, name, prompt_text FROM summary_prompts ORDER BY id").fetchall(),
            "next user id": conn.execute(
                "SELECT pg_sequence_last_value(pg_get_serial_sequence('users', 'id'))"
            ).fetchall(),
        }


def _exists(server_url: str, name: str) -> bool:
    with psycopg.connect(server_url, autocommit=True) as conn:
        return conn.execute("SELECT EXISTS (SELECT FROM pg_database WHERE datname = %s)", (name,)).fetchone() == (True,)


def _taken(recycling: DatabaseRecycler, server_url: str) -> tuple[str, str]:
    name = recycling.take(f"opentr_test_recycle_{secrets.token_hex(4)}")
    return name, schema.with_database(server_url, name)


def test_rows_seeds_sequences_and_the_audit_trail_are_back_to_the_template(
    recycling: DatabaseRecycler, server_url: str, template_name: str
) -> None:
    template = _state(schema.with_database(server_url, template_name))
    name, url = _taken(recycling, server_url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO users (email, full_name, hashed_password) VALUES ('ä@例え.jp', '会議 مرحبا 🎙', 'x')")
        conn.execute("INSERT INTO audit_log (action) VALUES ('test.recycled')")  # append-only for everyone else
        conn.execute("UPDATE summary_prompts SET prompt_text = 'changed by a test'")
    assert _state(url) != template

    recycling.give_back(name, url)
    again, again_url = _taken(recycling, server_url)

    assert (again, recycling.reused) == (name, 1), "the database was reset and handed out again"
    assert _state(again_url) == template
    recycling.give_back(again, again_url)


@pytest.mark.parametrize(
    "change",
    [
        "CREATE TABLE left_behind (id int)",
        "ALTER TABLE users ADD COLUMN nickname text",
        "DROP INDEX audit_log_at_idx",
        "GRANT SELECT ON users TO PUBLIC",
        "TRUNCATE tags CASCADE",
        "ALTER TABLE audit_log DISABLE TRIGGER USER",
        "COMMENT ON TABLE users IS 'a test was here'",
    ],
)
def test_a_database_whose_schema_a_test_changed_is_dropped(
    recycling: DatabaseRecycler, server_url: str, change: str
) -> None:
    name, url = _taken(recycling, server_url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(change)
    recycling.give_back(name, url)
    assert recycling.idle == []
    assert not _exists(server_url, name)


def test_a_database_someone_is_still_connected_to_is_dropped(recycling: DatabaseRecycler, server_url: str) -> None:
    name, url = _taken(recycling, server_url)
    with psycopg.connect(url, autocommit=True):  # a process the test left running
        recycling.give_back(name, url)
    assert recycling.idle == []
    assert not _exists(server_url, name)


def test_a_database_with_many_rows_is_dropped_rather_than_emptied(recycling: DatabaseRecycler, server_url: str) -> None:
    name, url = _taken(recycling, server_url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO tags (name) SELECT 'tag ' || n FROM generate_series(1, 6000) n")
    recycling.give_back(name, url)
    assert recycling.idle == []
    assert not _exists(server_url, name)
