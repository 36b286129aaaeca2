"""Issue 25: the backup and restore drill, an operator's whole procedure onto a NEW PostgreSQL server.

An old deployment in use (people with passwords, a file uploaded and transcribed, a speaker renamed, and a row in
every table: tests/test_data_safety.py's `_populate`) is backed up with `opentr db backup`; a new server (a cluster
of its own, without the old one's role) gets `opentr db restore FILE --into opentr`, and the media directory is
copied. Every table's checksum is the old one's, and the app served on the restored database and the copied
directory (with a new, empty Redis) signs the same people in with their passwords and shows them the same files,
transcript and speakers, the media byte for byte. The commands are README's ("Backup and restore").
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from redis import Redis
from starlette.testclient import TestClient

from config.settings import Settings
from repo import schema
from tests.fault_support import ThrowawayPostgres, ThrowawayRedis, serve_app
from tests.test_data_safety import _opentr, _populate, fingerprint
from tests.workers_support import WorkerEnv, srt, wav
from web.app import create_app

pytestmark = pytest.mark.slow

PEOPLE = [
    ("jürgen.größe@example.com", "Jürgen Größe", "pässwört Größe 1"),
    ("mariam@example.com", "مريم العربية", "كلمة سر طويلة 2"),
    ("yuki@example.com", "雪 😀", "パスワード 😀 3"),
]
CUES = [(0.0, 1.5, "SPEAKER_00", "Guten Tag, 会議を始めます"), (1.5, 3.0, "SPEAKER_01", "شكرا 😀")]


def _sign_in(client: Any, email: str, password: str) -> dict[str, str]:
    token = client.post("/api/auth/token", data={"username": email, "password": password})
    assert token.status_code == 200, f"{email}: {token.text}"
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def _what_people_see(client: Any, headers: dict[str, str], uuid: str) -> dict[str, Any]:
    me = client.get("/api/users/me", headers=headers).json()
    me.pop("last_login_at")  # signing in on the restored deployment is a new login
    seen = {
        "me": me,
        "files": client.get("/api/files", headers=headers).json(),
        "transcript": client.get(f"/api/files/{uuid}/transcript", headers=headers).json(),
        "speakers": client.get(f"/api/files/{uuid}/speakers", headers=headers).json(),
    }
    media = client.get(f"/api/files/{uuid}/content", headers=headers)
    assert media.status_code == 200, media.text
    seen["media"] = media.content
    return seen


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


def test_backup_then_restore_onto_a_new_server_gives_back_every_row_the_media_and_the_sign_ins(
    app_settings: Settings, fresh_url: str, redis_url: str, tmp_path: Path
) -> None:
    # The old deployment, in use.
    started = time.monotonic()
    Redis.from_url(redis_url).flushdb()
    media = wav(3.0)
    with TestClient(create_app(app_settings)) as client:
        for email, name, password in PEOPLE:
            registered = client.post(
                "/api/auth/register", json={"email": email, "password": password, "full_name": name}
            )
            assert registered.status_code == 201, registered.text
        owner = _sign_in(client, PEOPLE[0][0], PEOPLE[0][2])
        files = {"file": ("Größe 会議 😀.wav", media, "audio/wav"), "transcript": ("t.srt", srt(CUES), "text/plain")}
        uploaded = client.post("/api/files", headers=owner, files=files)
        assert uploaded.status_code == 201, uploaded.text
        uuid = uploaded.json()["uuid"]
        done = WorkerEnv(fresh_url, redis_url, app_settings.opentr_home).run_burst(timeout=120)
        assert done.returncode == 0, done.stderr[-3000:]
        speaker = client.get(f"/api/files/{uuid}/speakers", headers=owner).json()[0]
        renamed = client.put(f"/api/speakers/{speaker['uuid']}", headers=owner, json={"display_name": "Ärztin 医者"})
        assert renamed.status_code == 200, renamed.text
    _populate(fresh_url)  # a row in every table, with awkward values (tags on every file, this one's too)
    with psycopg.connect(fresh_url, autocommit=True) as conn:  # _populate requires two factors of everyone
        conn.execute("UPDATE instance_settings SET value = 'false' WHERE key = 'two_factor.required'")
    with TestClient(create_app(app_settings)) as client:
        before_seen = _what_people_see(client, _sign_in(client, PEOPLE[0][0], PEOPLE[0][2]), uuid)
    assert before_seen["files"]["items"] and "会議を始めます" in str(before_seen["transcript"])
    before = fingerprint(fresh_url)
    timings = {"in use": time.monotonic() - started}

    # 1. opentr db backup, on the old deployment
    dump = tmp_path / "opentr.dump"
    old_env = _env(schema.to_url(fresh_url), app_settings.opentr_home)
    backed_up = _opentr("db", "backup", "-o", str(dump), env=old_env)
    assert backed_up.returncode == 0, backed_up.stderr[-3000:]
    timings["backup"] = time.monotonic() - started - sum(timings.values())

    with ThrowawayPostgres(prefix="opentr-drill-pg-") as new_server, ThrowawayRedis() as new_redis:
        # 2. opentr db restore, on the new server (DATABASE_URL names its maintenance database)
        timings["new server"] = time.monotonic() - started - sum(timings.values())
        new_home = tmp_path / "new-home"
        restored = _opentr(
            "db", "restore", str(dump), "--into", "opentr", env=_env(schema.to_url(new_server.url()), new_home)
        )
        assert restored.returncode == 0, restored.stderr[-3000:]
        restored_url = new_server.url("opentr")
        timings["restore"] = time.monotonic() - started - sum(timings.values())
        # 3. the media directory copied (rsync -a, cp -a …)
        shutil.copytree(app_settings.storage_dir, new_home / "storage", symlinks=True)

        after = fingerprint(restored_url)
        assert sorted(after) == sorted(before)
        differing = {table: (before[table], after[table]) for table in before if before[table] != after[table]}
        assert differing == {}, differing

        # 4. the app on the restored deployment: the same people sign in and see the same things
        settings = Settings(database_url=schema.to_url(restored_url), redis_url=new_redis.url, opentr_home=new_home)
        with serve_app(settings) as app, httpx.Client(base_url=app.url, timeout=30) as client:
            for email, _, password in PEOPLE:
                _sign_in(client, email, password)
            after_seen = _what_people_see(client, _sign_in(client, PEOPLE[0][0], PEOPLE[0][2]), uuid)
            for part in ("me", "files", "transcript", "speakers"):
                assert after_seen[part] == before_seen[part], (part, _differences(before_seen[part], after_seen[part]))
            assert after_seen["media"] == media, "the media differs after the restore"
            assert any(s["display_name"] == "Ärztin 医者" for s in after_seen["speakers"])
    timings["checked"] = time.monotonic() - started - sum(timings.values())
    print("drill:", ", ".join(f"{step} {seconds:.1f} s" for step, seconds in timings.items()))
