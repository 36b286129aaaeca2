"""`opentr import opentranscribe` on a real OpenTranscribe database: built from that platform's own schema file
(tests/fixtures/opentranscribe-init_db.sql, MIT), filled with generated rows, its media in a directory."""

from __future__ import annotations

import base64
import binascii
import io
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt
import psycopg
import pytest
from cryptography.fernet import Fernet

from config.settings import Settings
from importers.report import Progress
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
    "media_file WHERE summary <> ''": "file_summaries",
}
SUMMARY_ANSWER = {
    "bluf": "Budget agreed.",
    "brief_summary": "The team met about the budget.",
    "major_topics": [{"topic": "Budget", "summary": "Over by 50K", "key_points": ["infrastructure"]}],
    "action_items": [{"item": "Update the roadmap", "owner": "Sarah", "due_date": "Friday", "priority": "high"}],
    "key_decisions": ["Defer two releases"],
    "follow_up_items": [],
}
# The 2025-09 schema keeps a file's summary as text: the model's JSON answer, prose, or nothing at all.
SUMMARIES = {0: json.dumps(SUMMARY_ANSWER), 1: "A plain summary, written as prose.", 4: ""}


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
            if i in SUMMARIES:
                q(
                    "UPDATE media_file SET summary = %s, summary_status = 'completed' WHERE id = %s",
                    [SUMMARIES[i], file_id],
                )
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


def run_import(
    monkeypatch: pytest.MonkeyPatch,
    settings: Settings,
    source_url: str,
    objects: Path,
    capsys: Any,
    expected: int = 0,
) -> str:
    """The command as an operator runs it; returns its report (stdout), after checking its exit status and that
    its progress (stderr, not a terminal here) is plain lines."""
    assert settings.database_url is not None
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("OPENTR_HOME", str(settings.opentr_home))
    argv = ["import", "opentranscribe", "--database", source_url, "--storage", str(objects), "--old-key", OLD_KEY]
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == expected, out + err
    assert "\r" not in err
    return str(out)


@dataclass
class Line:
    source: int
    copied: int
    present: int
    skipped: int
    reasons: dict[str, int] = field(default_factory=dict)
    marked: set[str] = field(default_factory=set)  # the reasons marked ! (the operator must act)


def parse(report: str) -> dict[str, Line]:
    """The report's table lines and, under each, its skip reasons (source rows named in brackets left out)."""
    tables: dict[str, Line] = {}
    last: Line | None = None
    for text in report.splitlines():
        row = re.fullmatch(r"(\w+) +(\d+) +(\d+) +(\d+) +(\d+)", text)
        if row:
            last = tables[row[1]] = Line(int(row[2]), int(row[3]), int(row[4]), int(row[5]))
        elif text.startswith("    ") and last is not None:
            count, why = text[6:].split(" ", 1)
            why = re.sub(r" \(source rows [^)]*\)$", "", why)
            last.reasons[why] = int(count)
            if text[4] == "!":
                last.marked.add(why)
    for name, line in tables.items():
        assert line.source == line.copied + line.present + line.skipped, name  # each row counted once
        assert line.skipped == sum(line.reasons.values()), name
    return tables


def test_the_import_copies_every_table_and_a_second_run_changes_nothing(
    client: Any, app_settings: Settings, fresh_url: str, source: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    source_url, objects, stored = source
    # Exit 3: done, but one stored object was missing, which the operator must look into.
    report = run_import(monkeypatch, app_settings, source_url, objects, capsys, expected=3)

    assert report.splitlines()[0] == "OpenTranscribe schema: init_db.sql of 2025-09 (18 tables)"
    assert counts(fresh_url, list(TABLES.values())) == dict(
        zip(TABLES.values(), counts(source_url, list(TABLES)).values(), strict=True)
    )
    assert (
        "! note: 1 media file(s) whose stored object was not found (imported as orphaned: give --storage or --minio "
        "on the first run)" in report
    )
    lines = parse(report)
    assert lines["summary_prompts"].reasons == {"a system prompt (ours apply)": 2}
    assert lines["file_summaries"] == Line(2, 2, 0, 0)
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

    # The summaries are the files' summaries here, as the API shows them.
    ann = sign_in(client, "ann@example.com")
    talk = {title: uuid for title, uuid in rows_of(fresh_url, "SELECT title, uuid FROM media_files")}
    [summary] = client.get(f"/api/files/{talk['Talk 0']}/summaries", headers=ann).json()
    assert (summary["version"], summary["status"], summary["bluf"], summary["brief_summary"]) == (
        1, "completed", "Budget agreed.", "The team met about the budget.")  # fmt: skip
    assert summary["major_topics"] == ["Budget: Over by 50K"]
    assert summary["action_items"] == ["Update the roadmap (owner: Sarah; due date: Friday; priority: high)"]
    assert summary["key_decisions"] == ["Defer two releases"] and summary["follow_up_items"] == []
    [(raw,)] = rows_of(fresh_url, "SELECT raw_response FROM file_summaries WHERE uuid = %s", [summary["uuid"]])
    assert json.loads(raw) == SUMMARY_ANSWER  # the old answer whole
    bob = sign_in(client, "bob@example.com")
    [prose] = client.get(f"/api/files/{talk['Talk 1']}/summaries", headers=bob).json()
    assert (prose["bluf"], prose["brief_summary"]) == (None, "A plain summary, written as prose.")

    # A second run copies nothing and changes nothing; everything it saw is "already there".
    before = counts(fresh_url, [*TABLES.values(), "import_origins"])
    again = parse(run_import(monkeypatch, app_settings, source_url, objects, capsys))
    assert counts(fresh_url, [*TABLES.values(), "import_origins"]) == before
    assert len(again) == len(TABLES) and {line.copied for line in again.values()} == {0}
    assert {name: line.reasons for name, line in again.items() if line.reasons} == {
        "summary_prompts": {"a system prompt (ours apply)": 2}
    }


def sign_in(client: Any, email: str, password: str | None = None) -> dict[str, str]:
    answer = client.post("/api/auth/token", data={"username": email, "password": password or PASSWORDS[email]})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def rows_of(url: str, query: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params or []).fetchall()


def test_a_later_run_never_puts_back_or_overwrites_what_users_changed_and_adds_what_is_new(
    client: Any,
    app_settings: Settings,
    fresh_url: str,
    source: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
) -> None:
    source_url, objects, _ = source
    run_import(monkeypatch, app_settings, source_url, objects, capsys, expected=3)
    ann, bob = sign_in(client, "ann@example.com"), sign_in(client, "bob@example.com")
    talk = dict(rows_of(fresh_url, "SELECT title, uuid FROM media_files"))

    # What people do once they use the new platform, each through the API.
    assert client.delete(f"/api/files/{talk['Talk 0']}/tags/tag 1", headers=ann).status_code == 204
    [(ann_collection,)] = rows_of(
        fresh_url, "SELECT c.uuid FROM collections c JOIN users u ON u.id = c.user_id WHERE u.email = 'ann@example.com'"
    )
    removed = client.post(
        f"/api/collections/{ann_collection}/files/remove", headers=ann, json={"file_uuids": [str(talk["Talk 3"])]}
    )
    assert removed.status_code == 200, removed.text
    assert client.delete(f"/api/files/{talk['Talk 6']}", headers=ann).status_code == 204
    changed = client.put(
        "/api/users/me",
        headers=bob,
        json={"password": "bob's new password", "current_password": PASSWORDS["bob@example.com"]},
    )
    assert changed.status_code == 200, changed.text
    [(comment,)] = rows_of(fresh_url, "SELECT uuid FROM comments WHERE text = 'comment on 1'")
    assert client.delete(f"/api/comments/{comment}", headers=bob).status_code == 204
    [(speaker,)] = rows_of(
        fresh_url,
        "SELECT s.uuid FROM speakers s JOIN media_files m ON m.id = s.media_file_id "
        "WHERE m.title = 'Talk 0' AND s.label = 'SPEAKER_00'",
    )
    renamed = client.put(f"/api/speakers/{speaker}", headers=ann, json={"display_name": "Änne Müller 🎤"})
    assert renamed.status_code == 200, renamed.text
    [(segment,)] = rows_of(
        fresh_url,
        "SELECT s.uuid FROM transcript_segments s JOIN media_files m "
        "ON m.id = s.media_file_id WHERE s.text = 'segment 0 of file 0'",
    )
    edited = client.put(
        f"/api/files/{talk['Talk 0']}/transcript/segments/{segment}",
        headers=ann,
        json={"text": "edited by Ann — 編集済み"},
    )
    assert edited.status_code == 200, edited.text
    [(bob_collection,)] = rows_of(
        fresh_url, "SELECT c.uuid FROM collections c JOIN users u ON u.id = c.user_id WHERE u.email = 'bob@example.com'"
    )
    assert client.delete(f"/api/collections/{bob_collection}", headers=bob).status_code == 204
    [(bob_profile,)] = rows_of(
        fresh_url,
        "SELECT p.uuid FROM speaker_profiles p JOIN users u ON u.id = p.user_id WHERE u.email = 'bob@example.com'",
    )
    assert client.delete(f"/api/speaker-profiles/{bob_profile}", headers=bob).status_code == 204
    [(config,)] = rows_of(fresh_url, "SELECT uuid FROM user_llm_configurations WHERE name = 'config 0'")
    assert client.delete(f"/api/llm-configs/{config}", headers=ann).status_code == 204
    [(prompt,)] = rows_of(
        fresh_url, "SELECT uuid FROM summary_prompts WHERE name LIKE 'my prompt %%' AND content_type = 'meeting'"
    )
    assert client.delete(f"/api/prompts/{prompt}", headers=ann).status_code == 204
    [(cy,)] = rows_of(fresh_url, "SELECT uuid FROM users WHERE email = 'cy@example.com'")
    assert client.delete(f"/api/admin/users/{cy}", headers=ann).status_code == 204  # ann is an admin

    # Meanwhile OpenTranscribe went on: a new user, a new file with its transcript, a tag on an old file, a line
    # added to an old file's transcript, and a comment on the file deleted here.
    new_object = wav(0.4)
    (objects / "user_1" / "file_7.wav").write_bytes(new_object)
    with psycopg.connect(source_url, autocommit=True) as conn:
        q = conn.execute
        ids: dict[str, int] = dict(q("SELECT title, id FROM media_file").fetchall())
        users: dict[str, int] = dict(q('SELECT email, id FROM "user"').fetchall())
        q(
            'INSERT INTO "user" (email, hashed_password, full_name) VALUES (%s, %s, %s)',
            ["dörte@example.com", bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=4)).decode(), "Dörte Øberg"],
        )
        new_file = first(
            q(
                "INSERT INTO media_file (filename, storage_path, file_size, content_type, status, user_id, "
                "title) VALUES ('talk 7.wav', 'user_1/file_7.wav', %s, 'audio/wav', 'completed', %s, "
                "'Talk 7 — 新しい') RETURNING id",
                [len(new_object), users["ann@example.com"]],
            )
        )
        for n in range(3):
            q(
                "INSERT INTO transcript_segment (media_file_id, start_time, end_time, text) VALUES (%s, %s, %s, %s)",
                [new_file, n * 1.0, n * 1.0 + 0.5, f"new line {n}"],
            )
        q(
            "INSERT INTO transcript_segment (media_file_id, start_time, end_time, text) VALUES (%s, 90, 91, %s)",
            [ids["Talk 1"], "a line added later"],
        )
        [(tag3,)] = q("SELECT id FROM tag WHERE name = 'tag 3'").fetchall()
        q("INSERT INTO file_tag (media_file_id, tag_id) VALUES (%s, %s)", [ids["Talk 4"], tag3])
        q(
            "INSERT INTO comment (media_file_id, user_id, text) VALUES (%s, %s, 'late comment')",
            [ids["Talk 6"], users["ann@example.com"]],
        )
        q("UPDATE media_file SET summary = 'changed in OpenTranscribe' WHERE id = %s", [ids["Talk 0"]])

    # The next run: nothing comes back, nothing is overwritten, nothing aborts, and what is new is copied.
    before = counts(fresh_url, [*TABLES.values()])
    lines = parse(run_import(monkeypatch, app_settings, source_url, objects, capsys))
    after = counts(fresh_url, [*TABLES.values()])
    deleted, removed_here = "deleted here after an earlier import", "removed here after an earlier import"
    file_deleted, user_deleted = (
        "its file was deleted here after an earlier import",
        "its user was deleted here after an earlier import",
    )

    assert lines["users"] == Line(4, 1, 2, 1, {deleted: 1})
    assert after["users"] == before["users"] + 1
    assert lines["media_files"] == Line(8, 1, 4, 3, {user_deleted: 2, deleted: 1})
    assert after["media_files"] == before["media_files"] + 1
    assert rows_of(fresh_url, "SELECT title FROM media_files WHERE title LIKE 'Talk 6%%' OR title LIKE 'Talk 7%%'") == [
        ("Talk 7 — 新しい",)
    ]
    assert lines["file_tags"].copied == 1 and lines["file_tags"].reasons[removed_here] == 1
    assert lines["file_tags"].reasons[file_deleted] == 5  # Talk 2, 5 (cy's) and 6 had five tags among them
    assert rows_of(
        fresh_url,
        "SELECT t.name FROM file_tags f JOIN tags t ON t.id = f.tag_id "
        "WHERE f.media_file_id = (SELECT id FROM media_files WHERE title = 'Talk 0')",
    ) == [("tag 0",)]
    assert lines["collection_members"].reasons == {
        removed_here: 1,
        file_deleted: 1,
        "its collection was deleted here after an earlier import": 2,
    }
    assert lines["collections"].reasons == {deleted: 1}
    assert counts(fresh_url, ["collection_members", "collections"]) == {"collection_members": 1, "collections": 1}
    assert lines["comments"] == Line(8, 0, 3, 5, {deleted: 1, file_deleted: 4})
    assert "late comment" not in {t for (t,) in rows_of(fresh_url, "SELECT text FROM comments")}
    assert lines["transcript_segments"].copied == 4  # three lines of the new file, one added to an old one
    assert lines["transcript_segments"].reasons.keys() == {file_deleted}
    assert rows_of(fresh_url, "SELECT count(*) FROM transcript_segments WHERE text = 'segment 0 of file 0'") == [(0,)]
    assert rows_of(fresh_url, "SELECT count(*) FROM transcript_segments WHERE text = 'edited by Ann — 編集済み'") == [
        (1,)
    ]
    assert rows_of(fresh_url, "SELECT display_name FROM speakers WHERE uuid = %s", [speaker]) == [("Änne Müller 🎤",)]
    assert lines["speaker_profiles"].reasons == {deleted: 1, user_deleted: 1}
    assert lines["speaker_collection_members"].reasons == {
        "its speaker profile was deleted here after an earlier import": 1
    }
    assert lines["user_llm_configurations"].reasons == {deleted: 1}
    assert lines["speaker_matches"].reasons == {"its speaker was deleted here after an earlier import": 2}
    assert lines["user_settings"].reasons == {user_deleted: 1}
    assert lines["summary_prompts"].reasons == {deleted: 1, "a system prompt (ours apply)": 2}
    assert lines["file_summaries"].copied == 0  # Talk 0's summary changed there, but it was copied once already
    assert all(not line.marked for line in lines.values())  # nothing the operator must act on: exit status 0
    assert client.get("/api/users/me", headers=bob).status_code == 200
    assert (
        client.post(
            "/api/auth/token", data={"username": "bob@example.com", "password": PASSWORDS["bob@example.com"]}
        ).status_code
        == 401
    )
    sign_in(client, "bob@example.com", "bob's new password")
    new_talk = rows_of(fresh_url, "SELECT uuid, file_hash FROM media_files WHERE title = 'Talk 7 — 新しい'")
    content = client.get(f"/api/files/{new_talk[0][0]}/content", headers=ann)
    assert content.status_code == 200 and content.content == new_object

    # And a third run finds nothing left to do.
    third = parse(run_import(monkeypatch, app_settings, source_url, objects, capsys))
    assert counts(fresh_url, [*TABLES.values()]) == after
    assert {line.copied for line in third.values()} == {0}
    assert {name: (line.present, line.skipped) for name, line in third.items()} == {
        name: (line.present + line.copied, line.skipped) for name, line in lines.items()
    }


def test_old_passwords_sign_in_and_are_rehashed_with_ours(
    client: Any, app_settings: Settings, fresh_url: str, source: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    source_url, objects, _ = source
    run_import(monkeypatch, app_settings, source_url, objects, capsys, expected=3)

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
# The later schema keeps a file's summary as structured jsonb (`summary_data`), its items as objects.
LATER_SUMMARY = {
    "bluf": "Greeting exchanged.",
    "brief_summary": "Two words.",
    "major_topics": [{"topic": "Greetings", "summary": "Two people say hello", "key_points": ["hello"],
                      "timestamp_range": "[00:00] - [00:01]"}],
    "action_items": [],
    "key_decisions": [{"decision": "Say hello first", "impact": "a friendly start", "stakeholders": []}],
    "follow_up_items": ["Say goodbye"],
    "overall_sentiment": "positive",
}  # fmt: skip


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
        conn.execute("UPDATE media_file SET summary_data = %s WHERE id = %s", [json.dumps(LATER_SUMMARY), file_id])
    report = run_import(monkeypatch, app_settings, empty_url, objects, capsys)

    assert report.splitlines()[0] == "OpenTranscribe schema: a later schema (29 tables)"
    with psycopg.connect(fresh_url) as conn:
        assert conn.execute(
            "SELECT s.text, w.words FROM transcript_segments s JOIN segment_words w ON w.segment_id = s.id"
        ).fetchall() == [("hello there", words)]
        assert conn.execute("SELECT speaker_stats, keywords FROM analytics").fetchall() == [({}, [])]
        assert conn.execute(
            "SELECT version, status, bluf, major_topics, key_decisions, follow_up_items FROM file_summaries"
        ).fetchall() == [
            (
                1,
                "completed",
                "Greeting exchanged.",
                ["Greetings: Two people say hello (timestamp range: [00:00] - [00:01])"],
                ["Say hello first (impact: a friendly start)"],
                ["Say goodbye"],
            )
        ]
    signed_in = client.post("/api/auth/token", data={"username": "dee@example.com", "password": "later password"})
    assert signed_in.status_code == 200, signed_in.text


def test_rows_our_schema_refuses_are_skipped_in_words_and_the_run_goes_on(
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
        good, no_at, no_name = (
            first(conn.execute(add_user, [email, "$2b$04$" + "x" * 53, "X"]))
            for email in ("ok@example.com", "no-at-sign", "@example.com")
        )
        files = [
            first(conn.execute("INSERT INTO media_file (filename, storage_path, file_size, content_type, user_id) "
                               "VALUES ('a.wav', 'a.wav', 1, 'audio/wav', %s) RETURNING id", [owner]))
            for owner in (good, no_at, no_name)
        ]  # fmt: skip
        spam = first(conn.execute("INSERT INTO comment (media_file_id, user_id, text) VALUES (%s, %s, 'spam'), "
                                  "(%s, %s, 'fine') RETURNING id", [files[0], good, files[0], good]))  # fmt: skip
        conn.execute("INSERT INTO collection (name, user_id) VALUES ('later table', %s)", [good])
    with psycopg.connect(fresh_url, autocommit=True) as conn:  # a rule of ours the mapping does not foresee
        conn.execute("ALTER TABLE comments ADD CONSTRAINT comments_no_spam_check CHECK (text <> 'spam')")
    report = run_import(monkeypatch, app_settings, empty_url, tmp_path, capsys, expected=3)

    lines = parse(report)
    assert lines["users"] == Line(3, 1, 0, 2, {"not an email address": 2}, {"not an email address"})
    assert f"    ! 2 not an email address (source rows {no_at}; {no_name})" in report.splitlines()
    assert lines["media_files"] == Line(3, 1, 0, 2, {"its user was not copied": 2})
    assert lines["comments"] == Line(2, 1, 0, 1, {"refused by our schema's rule comments_no_spam_check": 1},
                                     {"refused by our schema's rule comments_no_spam_check"})  # fmt: skip
    assert f"(source rows {spam})" in report
    assert lines["collections"] == Line(1, 1, 0, 0)  # the run went on past the refused row, to the last table
    assert "out of range" not in report
    assert report.splitlines()[-2:] == [
        "Lines marked ! need you: correct those rows in OpenTranscribe (or give what is missing),",
        "then run the import again; it adds them and nothing else.",
    ]
    assert counts(fresh_url, ["users", "media_files", "comments"]) == {"users": 1, "media_files": 1, "comments": 1}

    # Corrected in OpenTranscribe, the next run adds the user and the user's file, and nothing else.
    with psycopg.connect(empty_url, autocommit=True) as conn:
        conn.execute('UPDATE "user" SET email = %s WHERE id = %s', ["now-valid@example.com", no_at])
    again = parse(run_import(monkeypatch, app_settings, empty_url, tmp_path, capsys, expected=3))
    assert (again["users"].copied, again["media_files"].copied, again["comments"].copied) == (1, 1, 0)
    assert again["users"].reasons == {"not an email address": 1}


def start_import(settings: Settings, source_url: str, objects: Path, log: Path) -> subprocess.Popen[str]:
    """The command in its own process, its stderr going to a log file as a service manager would send it."""
    assert settings.database_url is not None
    env = {**os.environ, "DATABASE_URL": settings.database_url, "OPENTR_HOME": str(settings.opentr_home)}
    argv = ["import", "opentranscribe", "--database", source_url, "--storage", str(objects), "--old-key", OLD_KEY]
    with log.open("w") as stderr:
        return subprocess.Popen([sys.executable, "-m", "opentr_cli", *argv], env=env, text=True,
                                stdout=subprocess.PIPE, stderr=stderr)  # fmt: skip


def wait_until_blocked(url: str, proc: subprocess.Popen[str]) -> None:
    """Until the import's connection waits for a lock (bounded: the test fails rather than hangs)."""
    deadline = time.monotonic() + 120
    with psycopg.connect(url, autocommit=True) as conn:
        while not conn.execute(
            "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'opentr' "
            "AND wait_event_type = 'Lock'"
        ).fetchall():
            assert proc.poll() is None, "the import ended before it reached the locked row"
            assert time.monotonic() < deadline, "the import never reached the locked row"
            time.sleep(0.1)


def test_an_interrupted_run_reports_what_it_did_and_the_next_run_completes_without_duplicates(
    app_settings: Settings,
    fresh_url: str,
    source: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
) -> None:
    source_url, objects, _ = source
    # cy has an account here already (the import matches it by email). While another transaction holds cy's row,
    # the import waits at cy's first file (Talk 2), after ann's and bob's files were committed: midway.
    with psycopg.connect(fresh_url) as lock:
        lock.execute("INSERT INTO users (email, hashed_password) VALUES ('cy@example.com', 'x')")
        lock.commit()
        lock.execute("SELECT 1 FROM users WHERE email = 'cy@example.com' FOR UPDATE")

        # Stopped as a service manager stops it (SIGTERM): the report is still printed, and the log reads well.
        log = tmp_path / "import.log"
        proc = start_import(app_settings, source_url, objects, log)
        wait_until_blocked(fresh_url, proc)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 143, out
        err = log.read_text()
        assert "\r" not in err
        assert err.splitlines()[:3] == ["users: 3/3 done", "media_files: 1/7", "media_files: 2/7"]  # whole lines
        assert err.splitlines()[-1] == "opentr: the import stopped during media_files: stopped by signal SIGTERM"
        assert "! stopped: during media_files: stopped by signal SIGTERM" in out.splitlines()
        assert "  not reached: speaker_profiles, speakers, transcript_segments, tags, file_tags," in out
        stopped = "not reached: the run stopped here"
        assert parse(out)["media_files"] == Line(7, 2, 0, 5, {stopped: 5}, {stopped})  # ann's and bob's files

        # Its connection lost (the server restarted, a failover): it stops, says so, and prints the report.
        proc = start_import(app_settings, source_url, objects, log)
        wait_until_blocked(fresh_url, proc)
        rows_of(
            fresh_url,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND application_name = 'opentr' AND datname = current_database()",
        )
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 1, out
        said = "during media_files: the database connection was lost"
        assert log.read_text().splitlines()[-1] == f"opentr: the import stopped {said}"
        assert f"! stopped: {said}" in out.splitlines()

        # Killed outright (SIGKILL: nothing runs after it) at the same place.
        proc = start_import(app_settings, source_url, objects, tmp_path / "killed.log")
        wait_until_blocked(fresh_url, proc)
        proc.kill()
        proc.communicate(timeout=60)
        lock.rollback()

    report = parse(run_import(monkeypatch, app_settings, source_url, objects, capsys, expected=3))
    assert report["media_files"] == Line(7, 5, 2, 0)
    assert report["users"] == Line(3, 0, 3, 0)  # copied (cy: matched by email) by the first run
    source_counts = counts(source_url, list(TABLES))
    assert counts(fresh_url, list(TABLES.values())) == {
        ours: source_counts[theirs] + (1 if ours == "users" else 0) for theirs, ours in TABLES.items()
    } | {"users": 3}
    assert rows_of(fresh_url, "SELECT title FROM media_files GROUP BY title HAVING count(*) > 1") == []
    # What the killed run left: the object it was copying for Talk 2, which `opentr cleanup` finds once it is
    # older than an upload in flight could be (an hour).
    for stored in app_settings.storage_dir.rglob("*"):
        os.utime(stored, (time.time() - 7200, time.time() - 7200))
    assert main(["cleanup"]) == 0
    strays = [line for line in capsys.readouterr().out.splitlines() if line.startswith("stray file: ")]
    assert len(strays) == 1


def test_progress_on_a_terminal_redraws_one_line_and_ends_it_before_anything_else() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    progress = Progress(screen)
    progress("users", 1, 3)
    progress("users", 3, 3)
    progress("media_files", 1, 7)
    progress.close()  # the run stopped inside media_files: the error that follows starts its own line
    assert screen.getvalue().endswith("] 1/7\n")
    assert screen.getvalue().count("\r") == 3 and screen.getvalue().count("\n") == 2

    log = io.StringIO()  # not a terminal: a line per tenth of the table, and one when it is done
    progress = Progress(log)
    for done in range(1, 21):
        progress("transcript_segments", done, 20)
    progress("tags", 0, 0)
    progress.close()
    assert log.getvalue().splitlines() == [
        *(f"transcript_segments: {done}/20" for done in range(2, 20, 2)),
        "transcript_segments: 20/20 done",
        "tags: 0/0 done",
    ]


def test_names_emails_and_titles_in_any_script_round_trip(
    client: Any,
    app_settings: Settings,
    empty_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
) -> None:
    email, password = "jürgen.müller@例え.jp", "pässwörd 🔑 كلمة"
    media = wav(0.3)
    (tmp_path / "user_1").mkdir()
    (tmp_path / "user_1" / "会議の記録.wav").write_bytes(media)
    with psycopg.connect(empty_url, autocommit=True) as conn, conn.transaction():
        q = conn.execute
        conn.execute(SCHEMA.read_text())
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
        user = first(
            q(
                'INSERT INTO "user" (email, hashed_password, full_name) VALUES (%s, %s, %s) RETURNING id',
                [email, hashed, "Jürgen Müller — فاطمة"],
            )
        )
        file_id = first(
            q(
                "INSERT INTO media_file (filename, storage_path, file_size, content_type, status, user_id, title, "
                "description, summary) VALUES ('会議の記録.wav', 'user_1/会議の記録.wav', %s, 'audio/wav', "
                "'completed', %s, '会議の記録 🎙️', 'Grüße aus Köln', 'Zusammenfassung: Grüße 🌍') RETURNING id",
                [len(media), user],
            )
        )
        profile = first(
            q("INSERT INTO speaker_profile (user_id, name, uuid) VALUES (%s, 'Παναγιώτης', 'p1') RETURNING id", [user])
        )
        speaker = first(
            q(
                "INSERT INTO speaker (user_id, media_file_id, profile_id, name, display_name, uuid) "
                "VALUES (%s, %s, %s, 'SPEAKER_00', 'Zoë Ñúñez', 's1') RETURNING id",
                [user, file_id, profile],
            )
        )
        q(
            "INSERT INTO transcript_segment (media_file_id, speaker_id, start_time, end_time, text) "
            "VALUES (%s, %s, 0, 0.2, 'مرحبا بالعالم 👋')",
            [file_id, speaker],
        )
        tag = first(q("INSERT INTO tag (name) VALUES ('Besprechung-Müller') RETURNING id"))
        q("INSERT INTO file_tag (media_file_id, tag_id) VALUES (%s, %s)", [file_id, tag])
        collection = first(q("INSERT INTO collection (name, user_id) VALUES ('Équipe 🚀', %s) RETURNING id", [user]))
        q("INSERT INTO collection_member (collection_id, media_file_id) VALUES (%s, %s)", [collection, file_id])
        q("INSERT INTO comment (media_file_id, user_id, text) VALUES (%s, %s, 'お疲れさまです 👍')", [file_id, user])
    run_import(monkeypatch, app_settings, empty_url, tmp_path, capsys)

    headers = sign_in(client, email, password)
    me = client.get("/api/users/me", headers=headers).json()
    assert (me["email"], me["full_name"]) == (email, "Jürgen Müller — فاطمة")
    [item] = client.get("/api/files", headers=headers).json()["items"]
    assert (item["filename"], item["title"]) == ("会議の記録.wav", "会議の記録 🎙️")
    file = f"/api/files/{item['uuid']}"
    assert client.get(file, headers=headers).json()["description"] == "Grüße aus Köln"
    assert client.get(f"{file}/content", headers=headers).content == media
    assert [s["text"] for s in client.get(f"{file}/transcript", headers=headers).json()] == ["مرحبا بالعالم 👋"]
    assert [s["display_name"] for s in client.get(f"{file}/speakers", headers=headers).json()] == ["Zoë Ñúñez"]
    assert [t["name"] for t in client.get("/api/tags", headers=headers).json()] == ["Besprechung-Müller"]
    assert [c["name"] for c in client.get("/api/collections", headers=headers).json()] == ["Équipe 🚀"]
    assert [c["text"] for c in client.get(f"{file}/comments", headers=headers).json()] == ["お疲れさまです 👍"]
    summaries = client.get(f"{file}/summaries", headers=headers).json()
    assert [s["brief_summary"] for s in summaries] == ["Zusammenfassung: Grüße 🌍"]
    assert [p["name"] for p in client.get("/api/speaker-profiles", headers=headers).json()] == ["Παναγιώτης"]

    again = parse(run_import(monkeypatch, app_settings, empty_url, tmp_path, capsys))
    assert {name: (line.copied, line.skipped) for name, line in again.items() if line.present != line.source} == {
        "summary_prompts": (0, 2)  # the schema's two system prompts
    }


def test_an_import_made_before_rows_without_ids_were_remembered_is_taken_over_without_duplicates(
    app_settings: Settings, fresh_url: str, source: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    source_url, objects, _ = source
    run_import(monkeypatch, app_settings, source_url, objects, capsys, expected=3)
    # What the previous version left: no origins for link rows, tasks, analytics, matches and transcript lines,
    # and no summaries (it dropped them).
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        conn.execute(
            "DELETE FROM import_origins WHERE source_table IN ('file_tag', 'speaker_collection_member', "
            "'collection_member', 'task', 'analytics', 'speaker_match', 'transcript_segment', 'media_file.summary')"
        )
        conn.execute("DELETE FROM file_summaries")
    before = counts(fresh_url, list(TABLES.values()))

    lines = parse(run_import(monkeypatch, app_settings, source_url, objects, capsys))
    assert counts(fresh_url, list(TABLES.values())) == before | {"file_summaries": 2}
    assert {name: line.copied for name, line in lines.items() if line.copied} == {"file_summaries": 2}
    assert lines["transcript_segments"].present == lines["transcript_segments"].source  # matched, now remembered
    assert lines["file_tags"].present == lines["file_tags"].source
    remembered = dict(rows_of(fresh_url, "SELECT source_table, count(*) FROM import_origins GROUP BY 1"))
    assert remembered["transcript_segment"] == counts(source_url, ["transcript_segment"])["transcript_segment"]
    assert remembered["file_tag"] == counts(source_url, ["file_tag"])["file_tag"]
