"""Import from a URL end to end: the API call, a real `opentr worker --burst`, and a local HTTP server the test
starts (the guard relaxed to 127.0.0.1/32 only, so every other private address stays refused)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest
from redis import Redis

from config.settings import Settings
from repo.notifications import CHANNEL
from tests.web import register
from tests.workers_support import WorkerEnv, wav
from workers import ytdlp
from workers.url_fetch import DownloadError

TALK = wav(10.0)  # 160 kB: ten chunks, a progress report at every tenth
BIG = 2 * 1024 * 1024 + 1  # over the 1 MB limit the worker runs with
METADATA = "http://169.254.169.254/latest/meta-data/"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # the connection's end delimits a body sent without Content-Length

    def do_GET(self) -> None:
        if self.path == "/talk.wav":
            self._send(200, "audio/wav", TALK, chunk=4096)
        elif self.path == "/hop":
            self._send(302, "text/plain", b"", location="/talk-again.wav")
        elif self.path == "/talk-again.wav":
            self._send(200, "audio/x-wav", TALK[:-8000])
        elif self.path == "/to-metadata":
            self._send(302, "text/plain", b"", location=METADATA)
        elif self.path == "/big.wav":
            self._send(200, "audio/wav", b"\0" * BIG)
        elif self.path == "/big-undeclared.wav":
            self._send(200, "audio/wav", b"\0" * BIG, declare=False)
        elif self.path == "/page":
            self._send(200, "text/html", b"<html>hello</html>")
        else:
            self._send(404, "text/plain", b"no such thing")

    def _send(
        self,
        status: int,
        content_type: str,
        body: bytes,
        *,
        chunk: int = 65536,
        location: str = "",
        declare: bool = True,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if location:
            self.send_header("Location", location)
        if declare:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        for start in range(0, len(body), chunk):
            self.wfile.write(body[start : start + chunk])
            self.wfile.flush()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def media_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def app(settings: Settings, **update: Any) -> Any:
    from starlette.testclient import TestClient

    from web.app import create_app

    return TestClient(create_app(settings.model_copy(update=update)))


@pytest.fixture
def relaxed(app_settings: Settings) -> Iterator[Any]:
    with app(app_settings, opentr_allow_private_urls="127.0.0.1/32") as client:
        yield client


@pytest.fixture
def workers(app_settings: Settings, fresh_url: str, redis_url: str) -> Iterator[WorkerEnv]:
    Redis.from_url(redis_url).flushdb()
    yield WorkerEnv(fresh_url, redis_url, app_settings.opentr_home)
    Redis.from_url(redis_url).flushdb()


def burst(workers: WorkerEnv, tiny_whisper_dir: Path) -> None:
    result = workers.run_burst(
        timeout=120,
        OPENTR_ALLOW_PRIVATE_URLS="127.0.0.1/32",
        OPENTR_MAX_UPLOAD_MB="1",
        OPENTR_ASR_MODEL=str(tiny_whisper_dir),
        OPENTR_ASR_DEVICE="cpu",
        OPENTR_ASR_BEAM_SIZE="1",
        OPENTR_ASR_VAD="off",
        OPENTR_ASR_TEMPERATURE_FALLBACK="off",
        HF_HUB_OFFLINE="1",
    )
    assert result.returncode == 0, result.stderr[-3000:]


def start(client: Any, headers: dict[str, str], url: str) -> dict[str, Any]:
    response = client.post("/api/files/from-url", headers=headers, json={"url": url})
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    assert (body["status"], body["url"], body["file_uuid"]) == ("pending", url, None)
    return body


def state(client: Any, headers: dict[str, str], started: dict[str, Any]) -> dict[str, Any]:
    response = client.get(f"/api/files/from-url/{started['uuid']}", headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_a_media_url_is_downloaded_with_progress_then_processed_like_an_upload(
    relaxed: Any, workers: WorkerEnv, media_server: str, tiny_whisper_dir: Path
) -> None:
    headers = register(relaxed)
    direct = start(relaxed, headers, f"{media_server}/talk.wav")
    redirected = start(relaxed, headers, f"{media_server}/hop")

    with psycopg.connect(workers.conninfo, autocommit=True) as listener:  # the progress goes live, unstored
        listener.execute(f"LISTEN {CHANNEL}")
        burst(workers, tiny_whisper_dir)
        events = [json.loads(n.payload) for n in listener.notifies(timeout=2)]

    done = state(relaxed, headers, direct)
    assert (done["status"], done["progress"], done["bytes_received"], done["bytes_total"]) == (
        "completed",
        1.0,
        len(TALK),
        len(TALK),
    )
    detail = relaxed.get(f"/api/files/{done['file_uuid']}", headers=headers).json()
    assert (detail["filename"], detail["source_url"], detail["status"]) == ("talk.wav", direct["url"], "completed")
    assert relaxed.get(f"/api/files/{done['file_uuid']}/content", headers=headers).content == TALK
    task = relaxed.get(f"/api/tasks/{direct['task_id']}", headers=headers).json()
    assert (task["task_type"], task["status"]) == ("download", "completed")
    progress = [e["progress"] for e in events if e.get("event") == "progress" and e["task_id"] == direct["task_id"]]
    assert workers.query("SELECT count(*) FROM notifications WHERE task_id = %s", direct["task_id"]) == [(0,)]
    assert progress[0] == 0.0 and progress[-1] == 1.0 and len(progress) >= 10
    assert progress == sorted(progress)
    hopped = state(relaxed, headers, redirected)
    assert (hopped["status"], hopped["bytes_received"]) == ("completed", len(TALK) - 8000)
    hopped_file = relaxed.get(f"/api/files/{hopped['file_uuid']}", headers=headers).json()
    assert (hopped_file["filename"], hopped_file["source_url"]) == ("talk-again.wav", redirected["url"])


def test_failed_downloads_say_why_and_leave_no_file(
    relaxed: Any, workers: WorkerEnv, media_server: str, tiny_whisper_dir: Path
) -> None:
    headers = register(relaxed)
    cases = {
        "/to-metadata": "169.254.169.254: a loopback, private or link-local address, which this server does not fetch",
        "/big.wav": f"big.wav is larger than the 1 MB limit ({BIG} bytes)",
        "/big-undeclared.wav": "big-undeclared.wav is larger than the 1 MB limit",
        "/missing.wav": f"the server answered 404 Not Found for {media_server}/missing.wav",
        "/page": "page: text/html is not an audio or video file",
    }
    started = {path: start(relaxed, headers, media_server + path) for path in cases}

    burst(workers, tiny_whisper_dir)

    for path, message in cases.items():
        ended = state(relaxed, headers, started[path])
        assert (ended["status"], ended["error_message"], ended["file_uuid"]) == ("failed", message, None), path
        task = relaxed.get(f"/api/tasks/{started[path]['task_id']}", headers=headers).json()
        assert (task["status"], task["error_message"]) == ("failed", message)
    assert relaxed.get("/api/files", headers=headers).json()["items"] == []
    incoming = workers.storage / "incoming"
    assert [p for p in workers.storage.rglob("*") if p.is_file()] == [], list(incoming.iterdir())
    errors = workers.query("SELECT count(*) FROM notifications WHERE kind = 'error'")
    assert errors == [(len(cases),)]


def test_private_and_unresolvable_addresses_are_refused_at_once(app_settings: Settings, relaxed: Any) -> None:
    with app(app_settings) as strict:
        headers = register(strict)
        refused = {
            "http://10.1.2.3/talk.wav": "url: 10.1.2.3: a loopback, private or link-local address",
            "http://localhost:8080/talk.wav": "url: localhost resolves to 127.0.0.1: a loopback, private",
            "http://[fe80::1]/a.mp3": "url: fe80::1: a loopback, private or link-local address",
            "http://100.64.0.1/a.mp3": "url: 100.64.0.1: a loopback",
            "http://no-such-host.invalid/a.mp3": "url: the host no-such-host.invalid cannot be resolved",
        }
        # a well-formed URL (the document's pattern) whose host is not fetched from: a 409 naming the field
        for url, message in refused.items():
            response = strict.post("/api/files/from-url", headers=headers, json={"url": url})
            assert response.status_code == 409, url
            assert (response.json()["field"], response.json()["detail"][: len(message)]) == ("url", message)
        # not an http(s) URL the document allows: 422
        for url in ("ftp://93.184.216.34/a.mp3", "file:///etc/passwd", "http://[::ffff:192.168.1.1]/a.mp3"):
            response = strict.post("/api/files/from-url", headers=headers, json={"url": url})
            assert (response.status_code, response.json()["field"]) == (422, "url"), url
        assert strict.get("/api/tasks", headers=headers).json()["items"] == []
    # Allowing one network allows only that network.
    headers = register(relaxed)
    response = relaxed.post("/api/files/from-url", headers=headers, json={"url": "http://127.0.0.2/a.wav"})
    assert (response.status_code, response.json()["field"]) == (409, "url")


def test_an_import_is_its_owners_alone(relaxed: Any, media_server: str) -> None:
    alice, bob = register(relaxed), register(relaxed)
    started = start(relaxed, alice, f"{media_server}/talk.wav")
    assert relaxed.get(f"/api/files/from-url/{started['uuid']}", headers=bob).status_code == 404
    assert relaxed.get(f"/api/tasks/{started['task_id']}", headers=bob).status_code == 404
    assert relaxed.post("/api/files/from-url", json={"url": f"{media_server}/talk.wav"}).status_code == 401


def test_llm_base_urls_on_private_networks_are_refused_only_when_the_deployment_says_so(
    app_settings: Settings, relaxed: Any
) -> None:
    body = {"name": "home", "provider": "ollama", "model_name": "llama3", "base_url": "http://192.168.1.20:11434"}
    headers = register(relaxed)
    assert relaxed.post("/api/llm-configs", headers=headers, json=body).status_code == 201  # the default allows
    with app(app_settings, opentr_llm_allow_private=False) as strict:
        headers = register(strict)
        refused = strict.post("/api/llm-configs", headers=headers, json=body)
        assert (refused.status_code, refused.json()["field"]) == (422, "base_url")
        public = strict.post("/api/llm-configs", headers=headers, json={**body, "base_url": "http://93.184.216.34"})
        assert public.status_code == 201, public.text
        update = strict.put(
            f"/api/llm-configs/{public.json()['uuid']}", headers=headers, json={"base_url": body["base_url"]}
        )
        assert (update.status_code, update.json()["field"]) == (422, "base_url")
    with app(app_settings, opentr_llm_allow_private=False, opentr_allow_private_urls="192.168.1.0/24") as listed:
        headers = register(listed)
        assert listed.post("/api/llm-configs", headers=headers, json=body).status_code == 201


def test_yt_dlp_pages_resolve_to_a_direct_format_offline() -> None:
    assert ytdlp.claims("https://www.youtube.com/watch?v=dQw4w9WgXcQ")
    assert not ytdlp.claims("http://127.0.0.1:8000/talk.wav")  # the generic extractor never takes a URL
    info = {
        "id": "abc",
        "title": "A talk",
        "formats": [
            {"url": "https://cdn.example/hls.m3u8", "protocol": "m3u8_native", "acodec": "mp4a", "vcodec": "none"},
            {"url": "https://cdn.example/v.mp4", "protocol": "https", "acodec": "mp4a", "vcodec": "avc1", "tbr": 900},
            {"url": "https://cdn.example/a.m4a", "protocol": "https", "acodec": "mp4a", "vcodec": "none", "abr": 128,
             "ext": "m4a", "http_headers": {"User-Agent": "x"}},
            {"url": "https://cdn.example/a.webm", "protocol": "https", "acodec": "opus", "vcodec": "none", "abr": 64},
        ],
    }  # fmt: skip
    chosen = ytdlp.pick_format(info)
    assert (chosen.url, chosen.filename, chosen.title, chosen.headers) == (
        "https://cdn.example/a.m4a",
        "A talk.m4a",
        "A talk",
        {"User-Agent": "x"},
    )
    with pytest.raises(DownloadError, match="no format that can be downloaded directly"):
        ytdlp.pick_format({"id": "x", "formats": [info["formats"][0]]})


def test_a_download_whose_worker_died_ends_failed_at_the_next_recovery(fresh_url: str, tmp_path: Path) -> None:
    from jobs import dispatch
    from repo.database import Database
    from repo.tasks import TaskRepository
    from repo.url_imports import UrlImportRepository
    from tests import factories
    from workers.liveness import open_lock_session
    from workers.recovery import DEAD_OWNER, recover

    settings = Settings(opentr_home=tmp_path / "home", db_pool_min=0, db_pool_max=2)
    with Database(fresh_url, settings) as db, open_lock_session(fresh_url, settings, "t") as locks:
        with db.transaction() as conn:
            owner = factories.user(conn)
            started = dispatch.queue_url_import(conn, owner.id, "http://93.184.216.34/talk.wav")
            UrlImportRepository(conn).start(started.id, started.task_id)  # as the job does, then it dies
            TaskRepository(conn).start(started.task_id)
        report = recover(db, locks, None)
        with db.transaction() as conn:
            ended = UrlImportRepository(conn).get(owner, started.uuid)
            task = TaskRepository(conn).get(owner, started.task_id)
    assert report.closed_tasks == [started.task_id]
    assert (ended.status, ended.error_message) == ("failed", f"{DEAD_OWNER}; import the URL again")
    assert (task.status, task.error_message) == ("failed", DEAD_OWNER)
