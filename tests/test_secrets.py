"""Secrets: after a whole journey through a real uvicorn server and a real worker, neither `pg_dump` of the database
nor any log line holds a password, a bearer token, an api key or the master key; `opentr keys rotate` re-seals every
stored api key under the new master key, all or nothing, and the old master key no longer opens any of them."""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn
from websockets.sync.client import connect

from config.settings import Settings
from credentials import sealing
from repo import pgtools, schema
from repo.database import Database
from repo.llm_configs import LlmConfigRepository, associated_data
from repo.notifications import NotificationRepository
from tests import factories
from tests.fuzz_support import private_redis
from tests.llm_servers import Received, Reply, serving
from tests.workers_support import WorkerEnv, srt, wav


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveApp:
    url: str
    settings: Settings


@pytest.fixture
def own_redis() -> Iterator[str]:
    with private_redis() as url:
        yield url


@pytest.fixture
def live_app(app_settings: Settings, own_redis: str) -> Iterator[LiveApp]:
    """The app under a real uvicorn (in a thread, so that its loggers reach caplog) with its own master key."""
    from web.app import create_app

    master = f"master-{secrets.token_urlsafe(24)}"
    settings = app_settings.model_copy(update={"opentr_secret_key": master, "redis_url": own_redis})
    port = _free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_config=None, log_level="debug", access_log=True
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield LiveApp(f"http://127.0.0.1:{port}", settings)
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _every_logger_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        caplog.set_level(logging.DEBUG, logger=name)


def _echoing_provider(received: Received) -> Reply:
    """An OpenAI-style 401 that quotes the key it was sent, as real providers do."""
    key = received.headers.get("authorization", "").removeprefix("Bearer ")
    return Reply(401, {"error": {"message": f"Incorrect API key provided: {key}.", "type": "invalid_request_error"}})


@pytest.mark.slow
def test_no_secret_in_the_database_dump_or_the_logs(
    live_app: LiveApp, fresh_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    _every_logger_at_debug(caplog)
    email = f"journey-{secrets.token_hex(4)}@example.com"
    password = f"Pw-{secrets.token_urlsafe(12)}"
    new_password = f"Pw2-{secrets.token_urlsafe(12)}"
    wrong_password = f"Wrong-{secrets.token_urlsafe(12)}"
    api_key = f"sk-journey-{secrets.token_hex(16)}"
    second_key = f"sk-second-{secrets.token_hex(16)}"
    closed = _free_port()
    tokens: list[str] = []
    worker_output = ""

    with serving() as start, httpx.Client(base_url=live_app.url, timeout=60) as http:
        echo = start(_echoing_provider)
        created = http.post("/api/auth/register", json={"email": email, "password": password, "full_name": "J"})
        assert created.status_code == 201, created.text
        assert http.post("/api/auth/token", data={"username": email, "password": wrong_password}).status_code == 401
        signed_in = http.post("/api/auth/token", data={"username": email, "password": password})
        assert signed_in.status_code == 200, signed_in.text
        tokens.append(signed_in.json()["access_token"])
        auth = {"Authorization": f"Bearer {tokens[0]}"}
        assert http.get("/api/users/me", headers=auth).status_code == 200

        files = {
            "file": ("meeting.wav", wav(1.0), "audio/wav"),
            "transcript": ("meeting.srt", srt([(0.0, 1.0, "SPEAKER_00", "the secret plan")]), "application/x-subrip"),
        }
        uploaded = http.post("/api/files", headers=auth, files=files, data={"title": "Journey"})
        assert uploaded.status_code == 201, uploaded.text
        file_uuid = uploaded.json()["uuid"]

        # Live notifications over a real WebSocket, signed in the documented way: the token in the query string.
        ws_url = live_app.url.replace("http://", "ws://") + "/api/ws/notifications"
        with psycopg.connect(fresh_url, autocommit=True) as conn:  # an upload is a step, not a notification
            [(user_id,)] = conn.execute("SELECT id FROM users WHERE email = %s", [email]).fetchall()
            NotificationRepository(conn).notify(user_id, "system", "welcome")
        with connect(f"{ws_url}?token={tokens[0]}", open_timeout=10) as ws:
            assert json.loads(ws.recv(timeout=10))["notification"]["title"] == "welcome"

        base = {"provider": "openai", "model_name": "m", "api_key": api_key}
        closed_config = http.post(
            "/api/llm-configs",
            headers=auth,
            json={"name": "closed", "base_url": f"http://127.0.0.1:{closed}/v1", **base},
        )
        assert closed_config.status_code == 201, closed_config.text
        assert api_key not in closed_config.text
        tested = http.post(f"/api/llm-configs/{closed_config.json()['uuid']}/test", headers=auth)
        assert tested.status_code == 200 and tested.json()["ok"] is False, tested.text

        echo_config = http.post(
            "/api/llm-configs", headers=auth, json={"name": "echo", "base_url": f"{echo.url}/v1", **base}
        ).json()
        changed = http.put(f"/api/llm-configs/{echo_config['uuid']}", headers=auth, json={"api_key": second_key})
        assert changed.status_code == 200 and second_key not in changed.text
        tested = http.post(f"/api/llm-configs/{echo_config['uuid']}/test", headers=auth)
        assert tested.status_code == 200 and tested.json()["ok"] is False, tested.text
        assert second_key not in tested.text
        assert any(second_key in r.headers.get("authorization", "") for r in echo.requests), "the key was sent"
        assert http.post(f"/api/llm-configs/{echo_config['uuid']}/activate", headers=auth).status_code == 200
        listed = http.get("/api/llm-configs", headers=auth)
        assert listed.status_code == 200 and api_key not in listed.text and second_key not in listed.text

        # A real worker transcribes the upload, then runs a summary against the provider that quotes the key.
        workers = WorkerEnv(fresh_url, str(live_app.settings.redis_url), live_app.settings.opentr_home)
        master_key = str(live_app.settings.opentr_secret_key)
        burst = workers.run_burst(OPENTR_SECRET_KEY=master_key)
        assert burst.returncode == 0, burst.stderr
        worker_output += burst.stdout + burst.stderr
        status = http.get(f"/api/files/{file_uuid}", headers=auth).json()["status"]
        assert status == "completed", status
        queued = http.post(f"/api/files/{file_uuid}/summaries", headers=auth, json={})
        assert queued.status_code == 202, queued.text
        burst = workers.run_burst(OPENTR_SECRET_KEY=master_key)
        assert burst.returncode == 0, burst.stderr
        worker_output += burst.stdout + burst.stderr
        summary = http.get(f"/api/summaries/{queued.json()['uuid']}", headers=auth).json()
        assert summary["status"] == "failed", summary

        changed_password = http.put(
            "/api/users/me", headers=auth, json={"password": new_password, "current_password": password}
        )
        assert changed_password.status_code == 200, changed_password.text
        again = http.post("/api/auth/token", json={"username": email, "password": new_password})
        assert again.status_code == 200, again.text
        tokens.append(again.json()["access_token"])
        for token in tokens:
            assert http.post("/api/auth/logout", headers={"Authorization": f"Bearer {token}"}).status_code in (204, 401)
        assert http.get("/api/users/me", headers={"Authorization": f"Bearer {tokens[-1]}"}).status_code == 401

    dump = pgtools.run("pg_dump", ["--no-owner", "-d", fresh_url])
    assert email in dump and "user_llm_configurations" in dump and "Incorrect API key" in dump, "a real dump"
    # Every record but the test's own WebSocket client's (it logs the URL it opens; the app has no WebSocket client).
    records = [r for r in caplog.records if r.name != "websockets.client"]
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    logs = "\n".join(f"{formatter.format(r)} {r.exc_text or ''} {r.stack_info or ''}" for r in records)
    assert "WebSocket /api/ws/notifications?token=[redacted]" in logs, "the live connection was logged, redacted"
    assert "POST /api/llm-configs" in logs and "Incorrect API key" in worker_output, "the logs were captured"
    named = {
        "password": password,
        "new password": new_password,
        "wrong password": wrong_password,
        "api key": api_key,
        "second api key": second_key,
        "master key": master_key,
        **{f"token {i}": token for i, token in enumerate(tokens)},
    }
    for where, text in [("pg_dump", dump), ("logs", logs), ("worker output", worker_output)]:
        leaked = [name for name, secret in named.items() if secret in text]
        assert leaked == [], f"{where} holds the {', '.join(leaked)}"


# --- key rotation -----------------------------------------------------------------------------------------------------

OLD, NEW = f"old-{secrets.token_urlsafe(24)}", f"new-{secrets.token_urlsafe(24)}"


def _keys(url: str) -> list[tuple[int, Any, int, bytes, int]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT id, uuid, user_id, api_key_encrypted, api_key_version FROM user_llm_configurations "
            "WHERE api_key_encrypted IS NOT NULL ORDER BY id"
        ).fetchall()
    return [(r[0], r[1], r[2], bytes(r[3]), r[4]) for r in rows]


def _rotate(url: str, tmp_path: Path, **keys: str) -> subprocess.CompletedProcess[str]:
    unset = ("DATABASE_URL", "REDIS_URL", "OPENTR_SECRET_KEY", "OPENTR_OLD_SECRET_KEY")
    base = {k: v for k, v in os.environ.items() if k not in unset}
    env = {**base, "DATABASE_URL": schema.to_url(url), "OPENTR_HOME": str(tmp_path / "home"), **keys}
    return subprocess.run(
        [sys.executable, "-m", "opentr_cli", "keys", "rotate"], env=env, text=True, capture_output=True, timeout=60
    )


def test_keys_rotate_reseals_every_key_and_the_old_master_key_opens_none(
    fresh_url: str, settings: Settings, tmp_path: Path
) -> None:
    plaintexts: dict[Any, str] = {}
    with Database(fresh_url, settings) as db, db.transaction() as conn:
        configs = LlmConfigRepository(conn, OLD.encode())
        for _ in range(2):
            owner = factories.user(conn)
            for n in range(2):
                key = f"sk-rotate-{secrets.token_hex(8)}"
                plaintexts[configs.create(owner, f"c{n}", "openai", "m", api_key=key).uuid] = key
            configs.create(owner, "keyless", "ollama", "m")
    before = _keys(fresh_url)
    assert len(before) == 4 and {r[4] for r in before} == {sealing.key_version(OLD.encode())}

    rotated = _rotate(fresh_url, tmp_path, OPENTR_SECRET_KEY=NEW, OPENTR_OLD_SECRET_KEY=OLD)
    assert rotated.returncode == 0, rotated.stderr
    assert rotated.stdout.strip() == "re-sealed 4 api key(s) under the new master key"

    after = _keys(fresh_url)
    assert [r[:3] for r in after] == [r[:3] for r in before]
    assert {r[4] for r in after} == {sealing.key_version(NEW.encode())}
    assert all(new[3] != old[3] for new, old in zip(after, before, strict=True)), "every ciphertext changed"
    with Database(fresh_url, settings) as db, db.transaction() as conn:
        for _, config_uuid, user_id, sealed, _ in after:
            assert LlmConfigRepository(conn, NEW.encode()).api_key(user_id, config_uuid) == plaintexts[config_uuid]
            with pytest.raises(sealing.DecryptionError):
                sealing.open_sealed(OLD.encode(), user_id, associated_data(config_uuid), sealed)
            with pytest.raises(sealing.DecryptionError):
                LlmConfigRepository(conn, OLD.encode()).api_key(user_id, config_uuid)

    again = _rotate(fresh_url, tmp_path, OPENTR_SECRET_KEY=NEW, OPENTR_OLD_SECRET_KEY=OLD)
    assert again.returncode == 0 and again.stdout.strip() == "re-sealed 0 api key(s) under the new master key"
    assert _keys(fresh_url) == after


def test_keys_rotate_with_the_wrong_old_key_changes_nothing(fresh_url: str, settings: Settings, tmp_path: Path) -> None:
    with Database(fresh_url, settings) as db, db.transaction() as conn:
        owner = factories.user(conn)
        LlmConfigRepository(conn, OLD.encode()).create(owner, "a", "openai", "m", api_key="sk-a")
        LlmConfigRepository(conn, NEW.encode()).create(owner, "b", "openai", "m", api_key="sk-b")
        LlmConfigRepository(conn, OLD.encode()).create(owner, "c", "openai", "m", api_key="sk-c")
    before = _keys(fresh_url)
    third = f"third-{secrets.token_urlsafe(16)}"
    wrong = _rotate(fresh_url, tmp_path, OPENTR_SECRET_KEY=third, OPENTR_OLD_SECRET_KEY=OLD)
    assert wrong.returncode == 1, wrong.stdout + wrong.stderr
    assert "nothing rotated" in wrong.stderr and "Traceback" not in wrong.stderr
    assert _keys(fresh_url) == before, "all or nothing: the key OLD could open was not re-sealed either"

    for keys, variable in [
        ({"OPENTR_SECRET_KEY": NEW}, "OPENTR_OLD_SECRET_KEY"),
        ({"OPENTR_OLD_SECRET_KEY": OLD}, "OPENTR_SECRET_KEY"),
        ({"OPENTR_SECRET_KEY": NEW, "OPENTR_OLD_SECRET_KEY": NEW}, "OPENTR_OLD_SECRET_KEY"),
    ]:
        refused = _rotate(fresh_url, tmp_path, **keys)
        assert refused.returncode == 2 and refused.stderr.startswith(f"opentr: error: {variable}:"), refused.stderr
    assert _keys(fresh_url) == before
