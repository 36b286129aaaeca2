"""The whole user journey through a real uvicorn server and a real `opentr worker`, driven with httpx.

register → token (form) → upload a WAV with an SRT sidecar → burst worker → transcript with speaker names →
search finds a stemmed word → subtitles → tags, comments, collection → LLM configuration on a local
OpenAI-compatible server → summary (202) → burst worker → completed summary → notifications → delete → 404 and the
stored media gone.

WebSockets: neither `websockets` nor `wsproto` is installed, so uvicorn cannot upgrade a connection and no client
library exists to open one; the live-notification part runs in its own test through starlette's TestClient against
`create_app` (same real PostgreSQL, Redis and worker subprocess), see `test_websocket_gets_only_its_own_live_...`.

Both tests run their app and worker on a redis-server of their own (see `private_redis`), on the test PostgreSQL.
"""

from __future__ import annotations

import contextlib
import json
import queue
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from config.settings import Settings
from repo.notifications import NotificationRepository
from tests.fuzz_support import private_redis as private_redis_server
from tests.llm_servers import LocalServer, Received, Reply, openai_answer
from tests.web import register
from tests.workers_support import WorkerEnv, srt, wav

PASSWORD = "correct horse battery 9"
API_KEY = "sk-journey-3b1f-never-shown"
CUES = [
    (0.0, 1.5, "SPEAKER_00", "Welcome to the planning meeting"),
    (1.5, 4.0, "SPEAKER_01", "We are discussing the budgets today"),
    (4.0, 5.0, "SPEAKER_00", "Let us begin"),
]
BLUF = {
    "bluf": "The team reviewed the budget.",
    "brief_summary": "Alice opened the planning meeting and Bob raised the budgets.",
    "major_topics": ["budget"],
    "action_items": ["Bob sends the numbers"],
    "key_decisions": [],
    "follow_up_items": [],
}
START_TIMEOUT = 30.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def uvicorn_server(env: dict[str, str], log: Path) -> Iterator[str]:
    """`uvicorn --factory web.app:create_app` in a subprocess on a free 127.0.0.1 port; yields its base URL."""
    for _attempt in range(3):  # the port chosen may be taken by someone else before uvicorn binds it
        port = _free_port()
        with log.open("ab") as out:
            process = subprocess.Popen(
                [
                    *(sys.executable, "-m", "uvicorn", "--factory", "web.app:create_app"),
                    *("--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"),
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_TIMEOUT
        try:
            while process.poll() is None and time.monotonic() < deadline:
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                        break
                time.sleep(0.1)
            else:
                if process.poll() is None:
                    raise AssertionError(f"uvicorn did not answer within {START_TIMEOUT} s:\n{log.read_text()[-3000:]}")
                continue  # it exited (port taken?): try another port
            yield url
            return
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(10)
    raise AssertionError(f"uvicorn never started:\n{log.read_text()[-3000:]}")


@pytest.fixture
def private_redis() -> Iterator[str]:
    with private_redis_server() as url:
        yield url


@pytest.fixture
def workers(fresh_url: str, private_redis: str, tmp_path: Path) -> WorkerEnv:
    return WorkerEnv(fresh_url, private_redis, tmp_path / "home")


@pytest.fixture
def llm_server() -> Iterator[LocalServer]:
    def respond(_: Received) -> Reply:
        return Reply(body=openai_answer(json.dumps(BLUF)))

    server = LocalServer(respond)
    server.start()
    yield server
    server.stop()


def burst(workers: WorkerEnv) -> None:
    result = workers.run_burst(timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]


def stored_files(storage: Path) -> list[Path]:
    return sorted(p for p in storage.rglob("*") if p.is_file())


def test_whole_journey_through_a_real_server_and_worker(
    workers: WorkerEnv, llm_server: LocalServer, tmp_path: Path
) -> None:
    env = workers.env()
    with (
        uvicorn_server(env, tmp_path / "uvicorn.log") as base,
        httpx.Client(base_url=base, timeout=30) as http,
    ):
        # account
        email = f"journey-{secrets.token_hex(4)}@example.com"
        created = http.post("/api/auth/register", json={"email": email, "password": PASSWORD, "full_name": "Jo"})
        assert created.status_code == 201, created.text
        token = http.post("/api/auth/token", data={"username": email, "password": PASSWORD})
        assert token.status_code == 200 and token.json()["token_type"] == "bearer", token.text
        auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
        assert http.get("/api/users/me", headers=auth).json()["email"] == email

        # upload with a sidecar transcript
        media = wav(5.0)
        files = {
            "file": ("planning.wav", media, "audio/wav"),
            "transcript": ("planning.srt", srt(CUES), "application/x-subrip"),
        }
        uploaded = http.post("/api/files", headers=auth, files=files, data={"title": "Planning"})
        assert uploaded.status_code == 201, uploaded.text
        file_uuid = uploaded.json()["uuid"]
        assert uploaded.json()["status"] == "queued"
        stored = stored_files(workers.storage)
        assert [p.suffix for p in stored] == ["", ".transcript"] and stored[0].read_bytes() == media

        # the real worker transcribes it
        burst(workers)
        status = http.get(f"/api/files/{file_uuid}/status", headers=auth).json()
        assert status["status"] == "completed" and status["progress"] == 1.0, status
        detail = http.get(f"/api/files/{file_uuid}", headers=auth).json()
        assert detail["duration"] == 5.0 and detail["segment_count"] == 3 and detail["has_waveform"]

        # name a speaker, read the transcript
        speakers = {s["label"]: s for s in http.get(f"/api/files/{file_uuid}/speakers", headers=auth).json()}
        assert sorted(speakers) == ["SPEAKER_00", "SPEAKER_01"]
        renamed = http.put(
            f"/api/speakers/{speakers['SPEAKER_00']['uuid']}", headers=auth, json={"display_name": "Alice"}
        )
        assert renamed.status_code == 200 and renamed.json()["display_name"] == "Alice"
        transcript = http.get(f"/api/files/{file_uuid}/transcript", headers=auth).json()
        assert [(s["start_time"], s["end_time"], s["text"]) for s in transcript] == [(a, b, t) for a, b, _, t in CUES]
        assert [s["speaker_name"] for s in transcript] == ["Alice", "SPEAKER_01", "Alice"]
        assert [s["speaker_label"] for s in transcript] == [who for _, _, who, _ in CUES]

        # search: "budget" finds "budgets" (stemmed), with the segment's times and a highlighted snippet
        found = http.get("/api/search", headers=auth, params={"q": "budget"})
        assert found.status_code == 200, found.text
        [file_hits] = found.json()
        assert file_hits["file_uuid"] == file_uuid and file_hits["title"] == "Planning"
        [hit] = [h for h in file_hits["hits"] if h["kind"] == "segment"]
        assert hit["uuid"] == transcript[1]["uuid"] and (hit["start_time"], hit["end_time"]) == (1.5, 4.0)
        assert "<mark>budgets</mark>" in hit["snippet"]
        assert http.get("/api/search", headers=auth, params={"q": "kangaroo"}).json() == []

        # subtitles
        srt_text = http.get(f"/api/files/{file_uuid}/subtitles", headers=auth, params={"format": "srt"})
        assert srt_text.status_code == 200 and srt_text.headers["content-type"].startswith("application/x-subrip")
        assert srt_text.text.startswith("1\n00:00:00,000 --> 00:00:01,500\nAlice: Welcome to the planning meeting\n")
        assert "2\n00:00:01,500 --> 00:00:04,000\nSPEAKER_01: We are discussing the budgets today\n" in srt_text.text
        vtt = http.get(f"/api/files/{file_uuid}/subtitles", headers=auth, params={"format": "vtt"})
        assert vtt.status_code == 200 and vtt.headers["content-type"].startswith("text/vtt")
        assert vtt.text.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:01.500\n")
        assert "00:00:04.000 --> 00:00:05.000\n" in vtt.text and "Let us begin" in vtt.text

        # the media itself, with a range request
        part = http.get(f"/api/files/{file_uuid}/content", headers={**auth, "Range": "bytes=0-11"})
        assert part.status_code == 206 and part.content == media[:12]

        # tags
        tagged = http.post(f"/api/files/{file_uuid}/tags", headers=auth, json={"name": "planning"})
        assert tagged.status_code == 201 and [t["name"] for t in tagged.json()] == ["planning"]
        http.post(f"/api/files/{file_uuid}/tags", headers=auth, json={"name": "q3 budget"})
        listed = {t["name"]: t["file_count"] for t in http.get("/api/tags", headers=auth).json()}
        assert listed == {"planning": 1, "q3 budget": 1}
        assert http.delete(f"/api/files/{file_uuid}/tags/q3%20budget", headers=auth).status_code == 204
        assert http.get(f"/api/files/{file_uuid}", headers=auth).json()["tags"] == ["planning"]

        # comments
        comment = http.post(
            f"/api/files/{file_uuid}/comments", headers=auth, json={"text": "Budget at 1.5 s", "timestamp": 1.5}
        )
        assert comment.status_code == 201 and comment.json()["timestamp"] == 1.5
        edited = http.put(f"/api/comments/{comment.json()['uuid']}", headers=auth, json={"text": "Budget here"})
        assert edited.status_code == 200 and edited.json()["text"] == "Budget here"
        second = http.post(f"/api/files/{file_uuid}/comments", headers=auth, json={"text": "Keep me"}).json()
        assert http.delete(f"/api/comments/{comment.json()['uuid']}", headers=auth).status_code == 204
        assert [c["uuid"] for c in http.get(f"/api/files/{file_uuid}/comments", headers=auth).json()] == [
            second["uuid"]
        ]

        # a collection holding the file
        collection = http.post("/api/collections", headers=auth, json={"name": "Meetings"})
        assert collection.status_code == 201, collection.text
        collection_uuid = collection.json()["uuid"]
        added = http.post(f"/api/collections/{collection_uuid}/files", headers=auth, json={"file_uuids": [file_uuid]})
        assert added.status_code == 200 and added.json() == {"added": 1}
        members = http.get(f"/api/collections/{collection_uuid}/files", headers=auth).json()
        assert [m["file_uuid"] for m in members] == [file_uuid]
        in_collection = http.get("/api/files", headers=auth, params={"collection": collection_uuid}).json()
        assert [f["uuid"] for f in in_collection["items"]] == [file_uuid]
        assert http.get(f"/api/files/{file_uuid}", headers=auth).json()["collections"] == [
            {"uuid": collection_uuid, "name": "Meetings"}
        ]

        # an LLM configuration on a local OpenAI-compatible server, activated
        config = http.post(
            "/api/llm-configs",
            headers=auth,
            json={
                "name": "Local",
                "provider": "openai",
                "model_name": "journey-model",
                "base_url": f"{llm_server.url}/v1",
                "api_key": API_KEY,
            },
        )
        assert config.status_code == 201 and config.json()["has_api_key"], config.text
        assert API_KEY not in config.text
        activated = http.post(f"/api/llm-configs/{config.json()['uuid']}/activate", headers=auth)
        assert activated.status_code == 200 and activated.json()["is_active"] is True

        # summary: 202, the worker writes it
        requested = http.post(f"/api/files/{file_uuid}/summaries", headers=auth, json={})
        assert requested.status_code == 202, requested.text
        summary_uuid, summary_task = requested.json()["uuid"], requested.json()["task_id"]
        assert requested.json()["status"] == "pending"
        burst(workers)
        summary = http.get(f"/api/summaries/{summary_uuid}", headers=auth).json()
        assert summary["status"] == "completed", summary
        assert summary["bluf"] == BLUF["bluf"] and summary["action_items"] == BLUF["action_items"]
        assert summary["model_name"] == "journey-model" and summary["input_tokens"] == 21
        assert http.get(f"/api/tasks/{summary_task}", headers=auth).json()["status"] == "completed"
        [llm_request] = llm_server.requests
        assert llm_request.path == "/v1/chat/completions"
        assert llm_request.headers["authorization"] == f"Bearer {API_KEY}", "the worker decrypted the stored key"
        user_prompt = llm_request.json()["messages"][-1]["content"]
        assert "We are discussing the budgets today" in user_prompt and "Alice" in user_prompt
        assert http.get(f"/api/files/{file_uuid}", headers=auth).json()["summary_status"] == "completed"
        summary_hit = http.get("/api/search", headers=auth, params={"q": "reviewed"}).json()
        assert [h["kind"] for h in summary_hit[0]["hits"]] == ["summary"]

        # one notification per outcome: the transcript ready, the summary ready (the steps went live only)
        notes = http.get("/api/notifications", headers=auth, params={"limit": 200}).json()
        kinds = sorted(n["kind"] for n in notes["items"])
        assert kinds == ["summary", "transcription"], [(n["kind"], n["title"]) for n in notes["items"]]
        assert all(n["file_uuid"] == file_uuid for n in notes["items"])
        assert notes["unread_count"] == len(notes["items"])
        assert http.post("/api/notifications/read", headers=auth, json={}).json() == {"marked": len(notes["items"])}
        assert http.get("/api/notifications", headers=auth).json()["unread_count"] == 0
        tasks = http.get("/api/tasks", headers=auth).json()["items"]
        # (and the embedding for search by meaning, which runs on its own queue: not this journey's business)
        assert sorted((t["task_type"], t["status"]) for t in tasks if t["task_type"] != "embedding") == [
            ("summarization", "completed"),
            ("transcription", "completed"),
        ]

        # delete: 404 afterwards, the stored media and its sidecar gone
        assert stored_files(workers.storage) == stored
        assert http.delete(f"/api/files/{file_uuid}", headers=auth).status_code == 204
        for path in (f"/api/files/{file_uuid}", f"/api/files/{file_uuid}/transcript", f"/api/summaries/{summary_uuid}"):
            assert http.get(path, headers=auth).status_code == 404, path
        assert stored_files(workers.storage) == []
        assert http.get("/api/search", headers=auth, params={"q": "budget"}).json() == []
        assert http.get(f"/api/collections/{collection_uuid}", headers=auth).json()["file_count"] == 0
        assert workers.query("SELECT count(*) FROM transcript_segments") == [(0,)]

        # sign out: the token stops working
        assert http.post("/api/auth/logout", headers=auth).status_code == 204
        assert http.get("/api/users/me", headers=auth).status_code == 401
    log = (tmp_path / "uvicorn.log").read_text()
    assert "Traceback" not in log and API_KEY not in log and PASSWORD not in log, log[-3000:]


# --- live notifications over a WebSocket (TestClient: no WebSocket client library is installed) ------------------


class Listener:
    """Reads a WebSocket session in a thread until a notification titled `until` arrives (bounded by `join`); the
    notifications in `received`, the live progress events in `steps`."""

    def __init__(self, session: Any, until: str) -> None:
        self.session, self.until = session, until
        self.received: list[dict[str, Any]] = []
        self.steps: list[dict[str, Any]] = []
        self.errors: queue.Queue[BaseException] = queue.Queue()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            while True:
                message = self.session.receive_json()
                if message["type"] == "progress":
                    self.steps.append(message["progress"])
                    continue
                assert message["type"] == "notification", message
                self.received.append(message["notification"])
                if message["notification"]["title"] == self.until:
                    return
        except BaseException as exc:
            self.errors.put(exc)

    def join(self, timeout: float) -> list[dict[str, Any]]:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"no {self.until!r} within {timeout} s; got {self.received}"
        assert self.errors.empty(), self.errors.get()
        return self.received


def _user_id(conninfo: str, email: str) -> int:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute("SELECT id FROM users WHERE email = %s", [email]).fetchone()
    assert row is not None
    return int(row[0])


def _wait_listening(client: Any) -> None:
    deadline = time.monotonic() + 10
    while not client.app.state.live.listening:
        assert time.monotonic() < deadline, "the notification listener never connected"
        time.sleep(0.05)


def test_websocket_gets_only_its_own_live_notifications_from_a_real_worker(
    app_settings: Settings, workers: WorkerEnv
) -> None:
    from starlette.testclient import TestClient

    from web.app import create_app

    settings = app_settings.model_copy(update={"redis_url": workers.redis_url})
    assert settings.opentr_home == workers.home, "the worker shares the app's storage and secret key"
    with TestClient(create_app(settings)) as client:
        _websocket_journey(client, workers)


def _websocket_journey(client: Any, workers: WorkerEnv) -> None:
    fresh_url = workers.conninfo
    emails = [f"ws-{who}-{secrets.token_hex(3)}@example.com" for who in ("a", "b")]
    alice, bob = (register(client, email) for email in emails)
    user_ids = [_user_id(fresh_url, email) for email in emails]
    with psycopg.connect(fresh_url, autocommit=True) as conn, conn.transaction():
        NotificationRepository(conn).notify(user_ids[0], "system", "waiting before connecting")
    _wait_listening(client)
    end = "end of the test"
    with (
        client.websocket_connect(f"/api/ws/notifications?token={alice['Authorization'].split()[1]}") as ws_a,
        client.websocket_connect("/api/ws/notifications") as ws_b,
    ):
        ws_b.send_json({"token": bob["Authorization"].split()[1]})
        listeners = [Listener(ws_a, end), Listener(ws_b, end)]
        file_uuids = []
        for headers, tone in ((alice, 2.0), (bob, 3.0)):
            files = {
                "file": ("talk.wav", wav(tone), "audio/wav"),
                "transcript": ("talk.srt", srt(CUES[:1]), "application/x-subrip"),
            }
            response = client.post("/api/files", headers=headers, files=files)
            assert response.status_code == 201, response.text
            file_uuids.append(response.json()["uuid"])
        result = workers.run_burst(timeout=120)
        assert result.returncode == 0, result.stderr[-3000:]
        with psycopg.connect(fresh_url, autocommit=True) as conn, conn.transaction():
            for user_id in user_ids:
                NotificationRepository(conn).notify(user_id, "system", end)
        received = [listener.join(60) for listener in listeners]
    for headers, got, file_uuid, other in zip((alice, bob), received, file_uuids, reversed(file_uuids), strict=True):
        stored = client.get("/api/notifications", headers=headers, params={"limit": 200}).json()["items"]
        assert sorted(n["uuid"] for n in got) == sorted(n["uuid"] for n in stored), "exactly its own, each once"
        assert [n["kind"] for n in got if n["file_uuid"] == file_uuid] == ["transcription"], "one per outcome"
        assert {n["file_uuid"] for n in got} <= {file_uuid, None}
        assert other not in json.dumps(got)
    assert received[0][0]["title"] == "waiting before connecting", "unread ones come first, on connect"
    for listener, file_uuid in zip(listeners, file_uuids, strict=True):  # the steps came live, each to its owner
        assert {s["file_uuid"] for s in listener.steps} == {file_uuid}, listener.steps
        assert "processing started" in [s["step"] for s in listener.steps]
