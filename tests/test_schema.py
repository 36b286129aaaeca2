from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from repo import schema


def test_init_sql_and_migrations_build_identical_schemas(server_url: str) -> None:
    assert schema.compare_schemas(server_url, say=lambda _: None) == []


def test_a_drifted_init_sql_is_caught(server_url: str, tmp_path: Path) -> None:
    drifted = tmp_path / "init_db.sql"
    text = schema.INIT_SQL.read_text()
    drifted.write_text(
        text.replace("    last_login_at timestamptz\n", "    last_login_at timestamptz,\n    nick text\n")
    )
    diff = schema.compare_schemas(server_url, init_sql=drifted, say=lambda _: None)
    assert any("nick text" in line for line in diff)


def test_init_sql_builds_an_empty_database_with_the_seed_prompts(empty_url: str) -> None:
    assert schema.is_empty(empty_url)
    schema.build_from_init_sql(empty_url)
    with psycopg.connect(empty_url) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM summary_prompts WHERE is_system_default")}
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert names == {"Universal Content Analyzer", "Speaker Identification Assistant"}
    assert {"users", "media_files", "transcript_segments", "notifications", "user_llm_configurations"} <= tables
    assert not schema.is_empty(empty_url)


def test_updated_at_is_kept_by_a_trigger(conn: psycopg.Connection[tuple[Any, ...]]) -> None:
    row = conn.execute(
        "INSERT INTO users (email, hashed_password) VALUES ('t@x.io', 'h') RETURNING id, updated_at"
    ).fetchone()
    assert row is not None
    conn.execute("UPDATE users SET updated_at = '2000-01-01' WHERE id = %s", [row[0]])
    after = conn.execute("SELECT updated_at FROM users WHERE id = %s", [row[0]]).fetchone()
    assert after is not None and after[0].year != 2000
