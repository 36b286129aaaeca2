"""`opentr import opentranscribe` on a real OpenTranscribe database: built from that platform's own schema file
(tests/fixtures/opentranscribe-init_db.sql, MIT), filled with generated rows, its media in a directory."""

from __future__ import annotations

import base64
import binascii
import json
import random
from pathlib import Path
from typing import Any

import bcrypt
import psycopg
import pytest
from cryptography.fernet import Fernet

from config.settings import Settings
from opentr_cli.cli import main
from tests.workers_support import wav

SCHEMA = Path(__file__).parent / "fixtures" / "opentranscribe-init_db.sql"
OLD_KEY = "opentranscribe-secret-key"  # an ENCRYPTION_KEY that is not base64: OpenTranscribe derives its key from it
PASSWORDS = {
    "ann@example.com": "ann's old password",
    "bob@example.com": "bob's old password",
    "cy@example.com": "x" * 80,
}
# Source table → our table; summary prompts compare the users' own (the two seeded system prompts stay behind).
TABLES = {
    '"user"': "users",
    "media_file": "media_files",
    "tag": "tags",
    "file_tag": "file_tags",
    "speaker_profile": "speaker_profiles",
    "speaker": "speakers",
    "speaker_collection": "speaker_collections",
    "speaker_collection_member": "speaker_collection_members",
    "transcript_segment": "transcript_segments",
    "comment": "comments",
    "task": "tasks",
    "analytics": "analytics",
    "collection": "collections",
    "collection_member": "collection_members",
    "speaker_match": "speaker_matches",
    "summary_prompt WHERE user_id IS NOT NULL": "summary_prompts WHERE user_id IS NOT NULL",
    "user_setting": "user_settings",
    "user_llm_settings": "user_llm_configurations",
}


def old_seal(api_key: str) -> str:
    """How OpenTranscribe stored an api key (backend/app/utils/encryption.py): a Fernet token, base64url again."""
    try:
        fernet_key = base64.urlsafe_b64decode(OLD_KEY)
    except binascii.Error:
        fernet_key = base64.urlsafe_b64encode(OLD_KEY.encode().ljust(32, b"\0")[:32])
    return base64.urlsafe_b64encode(Fernet(fernet_key).encrypt(api_key.encode())).decode()


def fill(url: str, objects: Path) -> dict[str, bytes]:
    """Generated rows in every table the import reads; returns the stored objects by storage path."""
    rng = random.Random(15)
    stored: dict[str, bytes] = {}
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        q = conn.execute
        users = []
        for i, (email, password) in enumerate(PASSWORDS.items()):
            hashed = bcrypt.hashpw(password.encode()[:72], bcrypt.gensalt(rounds=4)).decode()
            row = q(
                'INSERT INTO "user" (email, hashed_password, full_name, is_superuser, role) VALUES '
                "(%s, %s, %s, %s, %s) RETURNING id",
                [email, hashed, f"User {i}", i == 0, "user"],
            ).fetchone()
            assert row is not None
            users.append(row[0])
        tags = [first(q("INSERT INTO tag (name) VALUES (%s) RETURNING id", [f"tag {i}"])) for i in range(4)]
        statuses = ["completed", "completed", "error", "processing", "completed", "completed", "pending"]
        files, speakers, profiles = [], [], {}
        for user in users:
            profiles[user] = first(
                q(
                    "INSERT INTO speaker_profile (user_id, name, uuid) VALUES (%s, %s, %s) RETURNING id",
                    [user, f"Person of {user}", f"p-{user}"],
                )
            )
        for i, status in enumerate(statuses):
            owner = users[i % len(users)]
            path = f"user_{owner}/file_{i}.wav"
            if i != 5:  # one object is missing from storage
                stored[path] = wav(0.2 + i / 10)
                (objects / path).parent.mkdir(parents=True, exist_ok=True)
                (objects / path).write_bytes(stored[path])
            file_id = first(
                q(
                    "INSERT INTO media_file (filename, storage_path, file_size, content_type, status, user_id, "
                    "duration, title, metadata_raw, waveform_data, resolution_width) VALUES "
                    "(%s, %s, %s, 'audio/wav', %s, %s, %s, %s, %s, %s, 0) RETURNING id",
                    [
                        f"talk {i}.wav",
                        path,
                        len(stored.get(path, b"")),
                        status,
                        owner,
                        1.5 * i,
                        f"Talk {i}",
                        json.dumps({"i": i}),
                        json.dumps([0.1, 0.5]),
                    ],
                )
            )
            files.append((file_id, owner))
            file_speakers = []
            for label in ("SPEAKER_00", "SPEAKER_01"):
                speaker = first(
                    q(
                        "INSERT INTO speaker (user_id, media_file_id, profile_id, name, display_name, uuid, "
                        "verified, confidence) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                        [
                            owner,
                            file_id,
                            profiles[owner] if label == "SPEAKER_00" else None,
                            label,
                            f"Name {i}" if label == "SPEAKER_00" else None,
                            f"s-{file_id}-{label}",
                            label == "SPEAKER_00",
                            rng.random(),
                        ],
                    )
                )
                file_speakers.append(speaker)
            speakers.append(file_speakers)
            for n in range(rng.randint(3, 9)):
                q(
                    "INSERT INTO transcript_segment (media_file_id, speaker_id, start_time, end_time, text) "
                    "VALUES (%s, %s, %s, %s, %s)",
                    [file_id, file_speakers[n % 2], n * 2.0, n * 2.0 + 1.5, f"segment {n} of file {i}"],
                )
            q("INSERT INTO file_tag (media_file_id, tag_id) VALUES (%s, %s)", [file_id, tags[i % 4]])
            if i % 2 == 0:
                q("INSERT INTO file_tag (media_file_id, tag_id) VALUES (%s, %s)", [file_id, tags[(i + 1) % 4]])
                q(
                    "INSERT INTO analytics (media_file_id, speaker_stats, keywords) VALUES (%s, %s, NULL)",
                    [file_id, json.dumps({"SPEAKER_00": {"time": i}})],
                )
            q(
                "INSERT INTO comment (media_file_id, user_id, text, timestamp) VALUES (%s, %s, %s, %s)",
                [file_id, owner, f"comment on {i}", i * 1.0],
            )
            q(
                "INSERT INTO task (id, user_id, media_file_id, task_type, status, progress, completed_at) VALUES "
                "(%s, %s, %s, %s, %s, %s, now())",
                [
                    f"celery-{i}",
                    owner,
                    file_id,
                    ["transcription", "summarization", "analytics"][i % 3],
                    ["completed", "failed", "in_progress"][i % 3],
                    0.5,
                ],
            )
        for n, (a, b) in enumerate([(0, 1), (2, 3), (4, 5)]):
            low, high = sorted((speakers[a][0], speakers[b][0]))
            q(
                "INSERT INTO speaker_match (speaker1_id, speaker2_id, confidence) VALUES (%s, %s, %s)",
                [low, high, 0.5 + n / 10],
            )
        for user in users[:2]:
            group = first(
                q(
                    "INSERT INTO speaker_collection (name, user_id) VALUES (%s, %s) RETURNING id",
                    [f"team of {user}", user],
                )
            )
            q(
                "INSERT INTO speaker_collection_member (collection_id, speaker_profile_id) VALUES (%s, %s)",
                [group, profiles[user]],
            )
            collection = first(
                q("INSERT INTO collection (name, user_id) VALUES (%s, %s) RETURNING id", [f"talks of {user}", user])
            )
            for file_id, owner in files:
                if owner == user:
                    q(
                        "INSERT INTO collection_member (collection_id, media_file_id) VALUES (%s, %s)",
                        [collection, file_id],
                    )
            q(
                "INSERT INTO summary_prompt (name, prompt_text, user_id, content_type) VALUES (%s, %s, %s, %s)",
                [f"my prompt {user}", "Summarise {transcript}", user, "meeting" if user == users[0] else "odd"],
            )
        configs = []
        llm = [("openai", "sk-ann-secret"), ("ollama", None), ("claude", "sk-ant-2")]
        for n, (provider, key) in enumerate(llm):
            configs.append(
                first(
                    q(
                        "INSERT INTO user_llm_settings (user_id, name, provider, model_name, api_key, base_url, "
                        "temperature) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
                        [
                            users[0] if n < 2 else users[1],
                            f"config {n}",
                            provider,
                            f"model-{n}",
                            old_seal(key) if key else None,
                            "http://10.0.0.5:11434" if provider == "ollama" else None,
                            "0.7",
                        ],
                    )
                )
            )
        for user, key, value in [
            (users[0], "theme", "dark"),
            (users[0], "active_llm_config_id", str(configs[1])),
            (users[1], "active_summary_prompt_id", "1"),
            (users[2], "Odd Key!", '{"a": 1}'),
        ]:
            q("INSERT INTO user_setting (user_id, setting_key, setting_value) VALUES (%s, %s, %s)", [user, key, value])
    return stored


def first(cursor: psycopg.Cursor[Any]) -> Any:
    """The first column of the one row a query returns."""
    row = cursor.fetchone()
    assert row is not None
    return row[0]


def counts(url: str, tables: list[str]) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return {t: first(conn.execute(f"SELECT count(*) FROM {t}")) for t in tables}


@pytest.fixture
def source(empty_url: str, tmp_path: Path) -> tuple[str, Path, dict[str, bytes]]:
    with psycopg.connect(empty_url, autocommit=True) as conn:
        conn.execute(SCHEMA.read_text())
    objects = tmp_path / "minio-bucket"
    objects.mkdir()
    return empty_url, objects, fill(empty_url, objects)


def run_import(monkeypatch: pytest.MonkeyPatch, settings: Settings, source_url: str, objects: Path, capsys: Any) -> str:
    assert settings.database_url is not None
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("OPENTR_HOME", str(settings.opentr_home))
    argv = ["import", "opentranscribe", "--database", source_url, "--storage", str(objects), "--old-key", OLD_KEY]
    assert main(argv) == 0, capsys.readouterr().err
    return str(capsys.readouterr().out)


def test_the_import_copies_every_table_and_a_second_run_changes_nothing(
    client: Any, app_settings: Settings, fresh_url: str, source: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    source_url, objects, stored = source
    report = run_import(monkeypatch, app_settings, source_url, objects, capsys)

    assert report.splitlines()[0] == "OpenTranscribe schema: init_db.sql of 2025-09 (18 tables)"
    assert counts(fresh_url, list(TABLES.values())) == dict(
        zip(TABLES.values(), counts(source_url, list(TABLES)).values(), strict=True)
    )
    assert "note: 1 media file(s) without their stored object (imported as orphaned)" in report
    with psycopg.connect(fresh_url) as conn:
        files = conn.execute(
            "SELECT title, status, storage_path, file_hash, last_error_message, resolution_width "
            "FROM media_files ORDER BY title"
        ).fetchall()
        admins = conn.execute("SELECT email FROM users WHERE role = 'admin'").fetchall()
        prompt_types = conn.execute(
            "SELECT content_type FROM summary_prompts WHERE user_id IS NOT NULL ORDER BY name"
        ).fetchall()
        settings: dict[str, Any] = dict(conn.execute("SELECT key, value FROM user_settings").fetchall())
        active = conn.execute("SELECT name FROM user_llm_configurations WHERE is_active").fetchall()
        open_tasks = conn.execute("SELECT count(*) FROM tasks WHERE status IN ('pending', 'in_progress')").fetchone()
    assert [(title, status) for title, status, *_ in files] == [
        ("Talk 0", "completed"),
        ("Talk 1", "completed"),
        ("Talk 2", "error"),
        ("Talk 3", "error"),
        ("Talk 4", "completed"),
        ("Talk 5", "orphaned"),
        ("Talk 6", "error"),
    ]
    assert files[3][4] == "talk 3.wav was not finished in OpenTranscribe when it was imported; reprocess it"
    assert files[0][5] is None  # the old 0 width is no width
    storage = app_settings.storage_dir
    for i, (_, _, path, digest, _, _) in enumerate(files):
        if i != 5:
            content = (storage / path).read_bytes()
            assert content == next(v for k, v in stored.items() if k.endswith(f"file_{i}.wav"))
            assert digest is not None and len(digest) == 64
    assert admins == [("ann@example.com",)]
    assert prompt_types == [("meeting",), ("general",)]
    assert settings == {
        "opentranscribe.theme": "dark",
        "opentranscribe.active_llm_config_id": int(settings["opentranscribe.active_llm_config_id"]),
        "opentranscribe.active_summary_prompt_id": 1,
        "opentranscribe.odd_key_": {"a": 1},
    }
    assert active == [("config 1",)]
    assert open_tasks == (0,)  # nothing imported claims a live worker

    # The api keys were opened with the old key and sealed with ours.
    from repo.database import Database
    from repo.llm_configs import LlmConfigRepository

    with Database(fresh_url, app_settings) as db, db.transaction() as conn:
        rows = conn.execute("SELECT user_id, uuid, name FROM user_llm_configurations ORDER BY name").fetchall()
        keys = [LlmConfigRepository(conn, app_settings.secret_key()).api_key(u, c) for u, c, _ in rows]
    assert keys == ["sk-ann-secret", None, "sk-ant-2"]

    # A second run copies nothing and changes nothing.
    before = counts(fresh_url, [*TABLES.values(), "import_origins"])
    again = run_import(monkeypatch, app_settings, source_url, objects, capsys)
    assert counts(fresh_url, [*TABLES.values(), "import_origins"]) == before
    copied = {line.split()[0]: int(line.split()[2]) for line in again.splitlines()[2:] if not line.startswith("note")}
    assert set(copied.values()) == {0} and len(copied) == len(TABLES)


def test_old_passwords_sign_in_and_are_rehashed_with_ours(
    client: Any, app_settings: Settings, fresh_url: str, source: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    source_url, objects, _ = source
    run_import(monkeypatch, app_settings, source_url, objects, capsys)

    for email, password in PASSWORDS.items():
        assert client.post("/api/auth/token", data={"username": email, "password": "wrong password"}).status_code == 401
        with psycopg.connect(fresh_url) as conn:
            assert first(conn.execute("SELECT hashed_password FROM users WHERE email = %s", [email]))[:4] == "$2b$"
        token = client.post("/api/auth/token", data={"username": email, "password": password})
        assert token.status_code == 200, token.text
        with psycopg.connect(fresh_url) as conn:
            assert first(conn.execute("SELECT hashed_password FROM users WHERE email = %s", [email]))[:7] == "scrypt$"
        again = client.post("/api/auth/token", data={"username": email, "password": password})
        assert again.status_code == 200
        me = client.get("/api/users/me", headers={"Authorization": f"Bearer {again.json()['access_token']}"})
        assert me.json()["email"] == email


def test_a_database_that_is_not_opentranscribe_is_refused(
    fresh_url: str, app_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    assert app_settings.database_url is not None
    monkeypatch.setenv("DATABASE_URL", app_settings.database_url)
    monkeypatch.setenv("OPENTR_HOME", str(app_settings.opentr_home))
    assert main(["import", "opentranscribe", "--database", fresh_url]) == 2
    assert (
        capsys.readouterr().err
        == "opentr: error: --database: no media_file, user table: not an OpenTranscribe database\n"
    )


LATER_SCHEMA = Path(__file__).parent / "fixtures" / "opentranscribe-init_db-2026-05.sql"


def test_a_later_schema_is_recognised_and_its_word_timings_come_along(
    client: Any,
    app_settings: Settings,
    fresh_url: str,
    empty_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
) -> None:
    objects = tmp_path / "bucket"
    (objects / "u").mkdir(parents=True)
    (objects / "u" / "talk.wav").write_bytes(wav(0.5))
    words = [{"word": "hello", "start": 0.0, "end": 0.4}, {"word": "there", "start": 0.5, "end": 0.9}]
    with psycopg.connect(empty_url, autocommit=True) as conn:
        # The schema creates uuid-ossp but never calls it; the embedded server ships without that extension.
        conn.execute(LATER_SCHEMA.read_text().replace('CREATE EXTENSION IF NOT EXISTS "uuid-ossp";', ""))
        hashed = bcrypt.hashpw(b"later password", bcrypt.gensalt(rounds=4)).decode()
        user = first(conn.execute('INSERT INTO "user" (email, hashed_password, full_name) VALUES '
                                  "('dee@example.com', %s, 'Dee') RETURNING id", [hashed]))  # fmt: skip
        file_id = first(conn.execute("INSERT INTO media_file (filename, storage_path, file_size, content_type, status, "
                                     "user_id) VALUES ('talk.wav', 'u/talk.wav', 1, 'audio/wav', 'completed', %s) "
                                     "RETURNING id", [user]))  # fmt: skip
        speaker = first(conn.execute("INSERT INTO speaker (user_id, media_file_id, name) VALUES (%s, %s, "
                                     "'SPEAKER_00') RETURNING id", [user, file_id]))  # fmt: skip
        conn.execute("INSERT INTO transcript_segment (media_file_id, speaker_id, start_time, end_time, text, words) "
                     "VALUES (%s, %s, 0, 1, 'hello there', %s)", [file_id, speaker, json.dumps(words)])  # fmt: skip
        conn.execute("INSERT INTO analytics (media_file_id, overall_analytics) VALUES (%s, '{}')", [file_id])
    report = run_import(monkeypatch, app_settings, empty_url, objects, capsys)

    assert report.splitlines()[0] == "OpenTranscribe schema: a later schema (29 tables)"
    with psycopg.connect(fresh_url) as conn:
        assert conn.execute(
            "SELECT s.text, w.words FROM transcript_segments s JOIN segment_words w ON w.segment_id = s.id"
        ).fetchall() == [("hello there", words)]
        assert conn.execute("SELECT speaker_stats, keywords FROM analytics").fetchall() == [({}, [])]
    signed_in = client.post("/api/auth/token", data={"username": "dee@example.com", "password": "later password"})
    assert signed_in.status_code == 200, signed_in.text


def test_rows_our_schema_refuses_are_skipped_with_the_reason_and_the_rest_copied(
    client: Any,
    app_settings: Settings,
    fresh_url: str,
    empty_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
) -> None:
    with psycopg.connect(empty_url, autocommit=True) as conn:
        conn.execute(SCHEMA.read_text())
        add_user = 'INSERT INTO "user" (email, hashed_password, full_name) VALUES (%s, %s, %s) RETURNING id'
        good, bad = (
            first(conn.execute(add_user, [email, "$2b$04$" + "x" * 53, "X"]))
            for email in ("ok@example.com", "no-at-sign")
        )
        for owner in (good, bad, bad):
            conn.execute("INSERT INTO media_file (filename, storage_path, file_size, content_type, user_id) VALUES "
                         "('a.wav', 'a.wav', 1, 'audio/wav', %s)", [owner])  # fmt: skip
    report = run_import(monkeypatch, app_settings, empty_url, tmp_path, capsys)

    users = next(line for line in report.splitlines() if line.startswith("users "))
    files = next(line for line in report.splitlines() if line.startswith("media_files "))
    assert users.split()[1:4] == ["2", "1", "0"] and "skipped: 1 refused: " in users
    assert files.split()[1:4] == ["3", "1", "0"] and files.endswith("skipped: 2 of a user not copied")
    assert counts(fresh_url, ["users", "media_files"]) == {"users": 1, "media_files": 1}
