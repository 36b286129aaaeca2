from __future__ import annotations

from typing import Any

import psycopg

from repo.users import UserRepository

CHILD_TABLES = [
    "auth_tokens",
    "media_files",
    "transcript_segments",
    "speakers",
    "speaker_profiles",
    "speaker_collections",
    "speaker_collection_members",
    "speaker_matches",
    "file_tags",
    "comments",
    "collections",
    "collection_members",
    "tasks",
    "analytics",
    "user_settings",
    "user_llm_configurations",
    "llm_connection_tests",
    "file_summaries",
    "notifications",
    "notification_preferences",
]


def _populate(conn: psycopg.Connection[Any], user_id: int) -> None:
    def one(sql: str, *params: Any) -> Any:
        row = conn.execute(sql, params).fetchone()
        return row[0] if row else None

    file_id = one(
        "INSERT INTO media_files (user_id, filename, storage_path, file_size) "
        "VALUES (%s, 'a.wav', %s, 10) RETURNING id",
        user_id,
        f"u{user_id}/a.wav",
    )
    profile = one("INSERT INTO speaker_profiles (user_id, name) VALUES (%s, 'Ann') RETURNING id", user_id)
    s1 = one(
        "INSERT INTO speakers (media_file_id, user_id, label, profile_id) VALUES (%s, %s, 'SPEAKER_00', %s) "
        "RETURNING id",
        file_id,
        user_id,
        profile,
    )
    s2 = one(
        "INSERT INTO speakers (media_file_id, user_id, label) VALUES (%s, %s, 'SPEAKER_01') RETURNING id",
        file_id,
        user_id,
    )
    conn.execute(
        "INSERT INTO speaker_matches (speaker1_id, speaker2_id, confidence) VALUES (%s, %s, 0.9)",
        (min(s1, s2), max(s1, s2)),
    )
    coll = one("INSERT INTO speaker_collections (user_id, name) VALUES (%s, 'team') RETURNING id", user_id)
    conn.execute("INSERT INTO speaker_collection_members VALUES (%s, %s)", (coll, profile))
    conn.execute(
        "INSERT INTO transcript_segments (media_file_id, speaker_id, start_time, end_time, text) "
        "VALUES (%s, %s, 0, 1, 'hello'), (%s, %s, 1, 2, 'world')",
        (file_id, s1, file_id, s2),
    )
    tag = one("INSERT INTO tags (name) VALUES (%s) RETURNING id", f"tag{user_id}")
    conn.execute("INSERT INTO file_tags VALUES (%s, %s)", (file_id, tag))
    conn.execute("INSERT INTO comments (media_file_id, user_id, text) VALUES (%s, %s, 'nice')", (file_id, user_id))
    collection = one("INSERT INTO collections (user_id, name) VALUES (%s, 'c') RETURNING id", user_id)
    conn.execute("INSERT INTO collection_members VALUES (%s, %s)", (collection, file_id))
    conn.execute(
        "INSERT INTO tasks (id, user_id, media_file_id, task_type) VALUES (%s, %s, %s, 'transcription')",
        (f"job-{user_id}", user_id, file_id),
    )
    conn.execute("INSERT INTO analytics (media_file_id) VALUES (%s)", (file_id,))
    conn.execute("INSERT INTO user_settings (user_id, key, value) VALUES (%s, 'ui.theme', '\"dark\"')", (user_id,))
    config = one(
        "INSERT INTO user_llm_configurations (user_id, name, provider, model_name) "
        "VALUES (%s, 'mine', 'openai', 'gpt') RETURNING id",
        user_id,
    )
    conn.execute("INSERT INTO llm_connection_tests (configuration_id, ok) VALUES (%s, true)", (config,))
    prompt = one("INSERT INTO summary_prompts (user_id, name, prompt_text) VALUES (%s, 'p', 'x') RETURNING id", user_id)
    conn.execute(
        "INSERT INTO file_summaries (media_file_id, user_id, prompt_id, llm_configuration_id, version) "
        "VALUES (%s, %s, %s, %s, 1)",
        (file_id, user_id, prompt, config),
    )
    conn.execute(
        "INSERT INTO notifications (user_id, kind, title, media_file_id, task_id) "
        "VALUES (%s, 'processing', 'done', %s, %s)",
        (user_id, file_id, f"job-{user_id}"),
    )
    conn.execute(
        "INSERT INTO notification_preferences (user_id, kind, in_app) VALUES (%s, 'summary', false)", (user_id,)
    )
    conn.execute(
        "INSERT INTO auth_tokens (user_id, token_hash, expires_at) VALUES (%s, %s, now() + interval '1 day')",
        (user_id, f"t{user_id}".encode()),
    )


def _counts(conn: psycopg.Connection[Any]) -> dict[str, int]:
    return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in CHILD_TABLES}  # type: ignore[index]


def test_deleting_a_user_is_one_statement_and_leaves_no_orphans(conn: psycopg.Connection[Any]) -> None:
    users = UserRepository(conn)
    doomed = users.create("doomed@example.com", "password1")
    kept = users.create("kept@example.com", "password1", role="admin")
    _populate(conn, doomed.id)
    before = _counts(conn)
    _populate(conn, kept.id)
    with_both = _counts(conn)
    assert all(with_both[t] == 2 * before[t] for t in CHILD_TABLES)

    assert conn.execute("DELETE FROM users WHERE id = %s", [doomed.id]).rowcount == 1

    after = _counts(conn)
    assert after == before, "exactly the kept user's rows remain"
    assert conn.execute("SELECT count(*) FROM summary_prompts WHERE user_id IS NULL").fetchone() == (2,)


def test_deleting_a_file_removes_its_children_only(conn: psycopg.Connection[Any]) -> None:
    user = UserRepository(conn).create("f@example.com", "password1")
    _populate(conn, user.id)
    conn.execute("DELETE FROM media_files WHERE user_id = %s", [user.id])
    counts = _counts(conn)
    for table in (
        "transcript_segments",
        "speakers",
        "speaker_matches",
        "file_tags",
        "comments",
        "collection_members",
        "tasks",
        "analytics",
        "file_summaries",
    ):
        assert counts[table] == 0, table
    for table in ("speaker_profiles", "collections", "user_settings", "notifications", "auth_tokens"):
        assert counts[table] == 1, table
    assert conn.execute("SELECT media_file_id, task_id FROM notifications").fetchone() == (None, None)
