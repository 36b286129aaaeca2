"""Issue 25: the backup and restore drill, an operator's whole procedure onto a NEW PostgreSQL server.

An old deployment (a cluster and a Redis of its own) in use: people with passwords, a recording uploaded with its
transcript file, and a row in every table (tests/test_data_safety.py's `_populate`: transcripts, speakers, shares,
tags …). It is backed up with `opentr db backup`; a new server (another cluster, without the old one's role
`opentr_app`) gets `opentr db restore FILE --into opentr`, and the media directory is copied. Every table's checksum
is the old one's, and the app served on the restored database and the copied directory (with a new, empty Redis)
signs the same people in with their passwords and shows them the same account, files, transcript and speakers, the
recording byte for byte. The commands are README's (Deploying at scale: Backup and restore).

Both servers are the test's own: a dump of the machine's PostgreSQL cannot be restored into a stock server (every
column there carries an attribute option `pg_attver` that stock PostgreSQL rejects), which is not what this proves.
"""

from __future__ import annotations

import os
import shutil
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from starlette.testclient import TestClient

from config.settings import Settings
from repo import schema
from tests.fault_support import ThrowawayPostgres, ThrowawayRedis, serve_app
from tests.test_data_safety import _opentr, _populate, fingerprint
from tests.workers_support import srt, wav
from web.app import create_app

pytestmark = [pytest.mark.slow, pytest.mark.same_on_every_server]

PEOPLE = [
    ("jürgen.größe@example.com", "Jürgen Größe", "pässwört Größe 1"),
    ("mariam@example.com", "مريم العربية", "كلمة سر طويلة 2"),
    ("yuki@example.com", "雪 😀", "パスワード 😀 3"),
]
CUES = [(0.0, 1.5, "SPEAKER_00", "Guten Tag, 会議を始めます"), (1.5, 3.0, "SPEAKER_01", "شكرا 😀")]
UPLOADER, READER = PEOPLE[0], PEOPLE[1]


def _sign_in(client: Any, person: tuple[str, str, str]) -> dict[str, str]:
    email, _, password = person
    token = client.post("/api/auth/token", data={"username": email, "password": password})
    assert token.status_code == 200, f"{email}: {token.text}"
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def _what_people_see(client: Any, uploaded: str, read: str) -> dict[str, Any]:
    """The uploader's account, library and recording; the reader's account, library, and a transcript and its
    speakers."""
    seen: dict[str, Any] = {}
    for who, person in (("uploader", UPLOADER), ("reader", READER)):
        headers = _sign_in(client, person)
        me = client.get("/api/users/me", headers=headers).json()
        me.pop("last_login_at")  # signing in on the restored deployment is a new login
        seen[f"{who} account"] = me
        seen[f"{who} files"] = client.get("/api/files", headers=headers).json()
        if who == "uploader":
            media = client.get(f"/api/files/{uploaded}/content", headers=headers)
            assert media.status_code == 200, media.text
            seen["recording"] = media.content
        else:
            seen["transcript"] = client.get(f"/api/files/{read}/transcript", headers=headers).json()
            seen["speakers"] = client.get(f"/api/files/{read}/speakers", headers=headers).json()
    return seen


def _reader_takes_over_a_populated_account(conninfo: str) -> str:
    """`_populate`'s people have placeholder password hashes: the reader takes over one (without two factors) by
    taking its email and the reader's hash, so that a person signs in to read `_populate`'s transcripts and speakers;
    returns the uuid of one of its files (200 segments, two speakers)."""
    with psycopg.connect(conninfo, autocommit=True) as conn, conn.transaction():
        row = conn.execute(
            "SELECT u.id, m.uuid FROM users u JOIN media_files m ON m.user_id = u.id"
            " WHERE u.hashed_password = 'x' AND m.title = 'plain'"
            " AND NOT EXISTS (SELECT FROM user_two_factor t WHERE t.user_id = u.id) ORDER BY u.id LIMIT 1"
        ).fetchone()
        assert row is not None
        reader = conn.execute("SELECT hashed_password FROM users WHERE email = %s", [READER[0]]).fetchone()
        assert reader is not None
        conn.execute("DELETE FROM users WHERE email = %s", [READER[0]])
        conn.execute(
            "UPDATE users SET email = %s, full_name = %s, hashed_password = %s WHERE id = %s",
            [READER[0], READER[1], reader[0], row[0]],
        )
    return str(row[1])


def _differences(before: Any, after: Any, where: str = "") -> list[str]:
    """Where two JSON values differ, as paths (for the failure message)."""
    if isinstance(before, dict) and isinstance(after, dict):
        keys = sorted(set(before) | set(after))
        return [d for k in keys for d in _differences(before.get(k), after.get(k), f"{where}.{k}")]
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return [
            d for i, (b, a) in enumerate(zip(before, after, strict=True)) for d in _differences(b, a, f"{where}[{i}]")
        ]
    return [] if before == after else [f"{where}: {before!r} != {after!r}"]


def _env(database_url: str, home: Path) -> dict[str, str]:
    kept = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_URL", "OPENTR_"))}
    return {**kept, "DATABASE_URL": database_url, "OPENTR_HOME": str(home)}


@dataclass
class InUse:
    """The old deployment after people used it: the recording uploaded, what people see, every table's checksum."""

    uploaded: str
    read: str
    recording: bytes
    seen: dict[str, Any]
    tables: dict[str, tuple[int, str]]


def _use(settings: Settings, conninfo: str) -> InUse:
    """People register, one uploads a recording with its transcript file; then a row in every table with awkward
    values (`_populate`), one of whose accounts the reader takes over."""
    recording = wav(3.0)
    with TestClient(create_app(settings)) as client:
        for email, name, password in PEOPLE:
            account = {"email": email, "password": password, "full_name": name}
            registered = client.post("/api/auth/register", json=account)
            assert registered.status_code == 201, registered.text
        files = {
            "file": ("Größe 会議 😀.wav", recording, "audio/wav"),
            "transcript": ("t.srt", srt(CUES), "text/plain"),
        }
        uploaded = client.post("/api/files", headers=_sign_in(client, UPLOADER), files=files)
        assert uploaded.status_code == 201, uploaded.text
        _populate(conninfo)
        with psycopg.connect(conninfo, autocommit=True) as conn:  # _populate requires two factors of everyone
            conn.execute("UPDATE instance_settings SET value = 'false' WHERE key = 'two_factor.required'")
        read = _reader_takes_over_a_populated_account(conninfo)
        seen = _what_people_see(client, uploaded.json()["uuid"], read)
    assert seen["recording"] == recording and len(seen["transcript"]) == 200 and seen["speakers"]
    return InUse(uploaded.json()["uuid"], read, recording, seen, fingerprint(conninfo))


def test_backup_then_restore_onto_a_new_server_gives_back_every_row_the_media_and_the_sign_ins(tmp_path: Path) -> None:
    started = time.monotonic()
    timings: dict[str, float] = {}

    def lap(step: str) -> None:
        timings[step] = time.monotonic() - started - sum(timings.values())

    with ExitStack() as stack:
        old_server = stack.enter_context(ThrowawayPostgres(prefix="opentr-drill-old-"))
        old_url = old_server.create_database("opentr")
        old_redis = stack.enter_context(ThrowawayRedis())
        old = Settings(database_url=schema.to_url(old_url), redis_url=old_redis.url, opentr_home=tmp_path / "old")
        lap("old server")
        used = _use(old, old_url)
        lap("in use")

        # 1. opentr db backup, on the old deployment
        dump = tmp_path / "opentr.dump"
        backed_up = _opentr("db", "backup", "-o", str(dump), env=_env(schema.to_url(old_url), old.opentr_home))
        assert backed_up.returncode == 0, backed_up.stderr[-3000:]
        lap("backup")

        # 2. opentr db restore, on a new server (DATABASE_URL names its maintenance database)
        new_server = stack.enter_context(ThrowawayPostgres(prefix="opentr-drill-new-"))
        new_redis = stack.enter_context(ThrowawayRedis())
        lap("new server")
        new_home = tmp_path / "new"
        new_env = _env(schema.to_url(new_server.url()), new_home)
        restored = _opentr("db", "restore", str(dump), "--into", "opentr", env=new_env)
        assert restored.returncode == 0, restored.stderr[-3000:]
        restored_url = new_server.url("opentr")
        # 3. the media directory copied (rsync -a, cp -a …)
        shutil.copytree(old.storage_dir, new_home / "storage", symlinks=True)
        lap("restore")

        after = fingerprint(restored_url)
        assert sorted(after) == sorted(used.tables)
        differing = {t: (used.tables[t], after[t]) for t in used.tables if used.tables[t] != after[t]}
        assert differing == {}, differing

        # 4. the app on the restored deployment: the same people sign in and see the same things
        settings = Settings(database_url=schema.to_url(restored_url), redis_url=new_redis.url, opentr_home=new_home)
        with serve_app(settings) as app, httpx.Client(base_url=app.url, timeout=30) as client:
            for person in PEOPLE:
                _sign_in(client, person)
            seen = _what_people_see(client, used.uploaded, used.read)
        assert seen["recording"] == used.recording, "the recording differs after the restore"
        for part in used.seen:
            assert seen[part] == used.seen[part], (part, _differences(used.seen[part], seen[part]))
        lap("checked")
    print("drill:", ", ".join(f"{step} {seconds:.1f} s" for step, seconds in timings.items()))
