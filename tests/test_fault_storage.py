"""Issue 25: the object storage (an S3-compatible server on loopback) stops answering, during an upload and while a
job fetches its media.

An upload meanwhile is a 503 that says the media storage is unavailable, with Retry-After, and leaves nothing: no
row, no object, no spool file (a download is a 503 too); the same upload works once the store is back. A job that
cannot fetch its media waits for the store (the file stays `processing`, nothing fails) and, when it answers again,
runs again from the start and completes the file with its transcript.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from redis import Redis
from starlette.testclient import TestClient

from config.settings import Settings
from storage.backend import open_storage
from tests.fault_support import StoppableS3, wait_until
from tests.web import register
from tests.workers_support import WorkerEnv, kill_group, srt, wav
from web.app import create_app

pytestmark = pytest.mark.slow

CUES = [(0.0, 1.5, "SPEAKER_00", "Größe 会議 😀"), (1.5, 3.0, "SPEAKER_01", "اجتماع الميزانية")]


@pytest.fixture(scope="module")
def s3() -> Iterator[StoppableS3]:
    with StoppableS3() as server:
        yield server


@pytest.fixture
def settings(s3: StoppableS3, app_settings: Settings) -> Settings:
    return s3.settings(app_settings, os.urandom(4).hex())


def _objects(settings: Settings) -> list[str]:
    return [stored.key for stored in open_storage(settings).objects()]


def _files_of(conninfo: str, email: str) -> int:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(
            "SELECT count(*) FROM media_files m JOIN users u ON u.id = m.user_id WHERE u.email = %s", [email]
        ).fetchone()
    assert row is not None
    return int(row[0])


def _upload(client: TestClient, headers: dict[str, str]) -> Any:
    files = {
        "file": ("Größe 会議 😀.wav", wav(3.0), "audio/wav"),
        "transcript": ("talk.srt", srt(CUES), "application/x-subrip"),
    }
    return client.post("/api/files", headers=headers, files=files)


def test_an_upload_while_the_object_storage_is_down_is_a_503_and_leaves_nothing(
    s3: StoppableS3, settings: Settings, fresh_url: str
) -> None:
    with TestClient(create_app(settings)) as client:
        email = f"s3-down-{os.urandom(3).hex()}@example.com"
        headers = register(client, email)
        earlier = client.post("/api/files", headers=headers, files={"file": ("früher.wav", wav(1.0), "audio/wav")})
        assert earlier.status_code == 201, earlier.text
        stored = _objects(settings)
        s3.stop()
        try:
            started = time.monotonic()
            refused = _upload(client, headers)
            seconds = time.monotonic() - started
            spooled = [p for p in settings.storage_dir.rglob("*") if p.is_file()]
            download = client.get(f"/api/files/{earlier.json()['uuid']}/content", headers=headers)
        finally:
            s3.start()

        for answer in (refused, download):
            assert answer.status_code == 503, answer.text
            assert answer.json()["detail"] == "the media storage is unavailable; try again shortly"
            assert answer.headers["retry-after"].isdigit()
        assert _files_of(fresh_url, email) == 1, "a row was stored for the refused upload"
        assert spooled == [], f"spool files left behind: {spooled}"
        assert _objects(settings) == stored, "an object was stored for the refused upload"

        created = _upload(client, headers)
        assert created.status_code == 201, created.text
        assert _files_of(fresh_url, email) == 2 and len(_objects(settings)) == 3  # its media and transcript file
    print(f"upload with the object storage down: 503 after {seconds:.2f} s")


def test_a_job_that_cannot_fetch_its_media_waits_for_the_storage_and_completes(
    s3: StoppableS3, settings: Settings, fresh_url: str, redis_url: str, tmp_path: Path
) -> None:
    Redis.from_url(redis_url).flushdb()
    with TestClient(create_app(settings)) as client:
        headers = register(client)
        created = _upload(client, headers)
        assert created.status_code == 201, created.text
        uuid = created.json()["uuid"]

    env = WorkerEnv(fresh_url, redis_url, settings.opentr_home)
    log = tmp_path / "worker.log"
    s3.stop()
    with log.open("w") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "opentr_cli", "worker", "--burst"],
            env=env.env(**s3.environment(settings)),
            text=True,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        waited = wait_until(
            lambda: "unavailable" in log.read_text() and "waiting for it" in log.read_text(),
            60,
            "the job to find the object storage down",
            interval=0.1,
        )
        status = env.query("SELECT status FROM media_files WHERE uuid = %s", uuid)
        assert status == [("processing",)], f"the file while the storage is down: {status}"
        s3.start()
        back = time.monotonic()
        worker.wait(timeout=90)
        finished = time.monotonic() - back
    finally:
        if worker.poll() is None:
            kill_group(worker)
    output = log.read_text()
    assert worker.returncode == 0, output[-3000:]
    assert "the media storage answers again" in output and "running the transcription job again" in output, output
    with TestClient(create_app(settings)) as client:
        state = client.get(f"/api/files/{uuid}", headers=headers).json()
        assert state["status"] == "completed", state
        transcript = client.get(f"/api/files/{uuid}/transcript", headers=headers).json()
        assert "Größe 会議 😀" in str(transcript) and "اجتماع الميزانية" in str(transcript)
    tasks = env.query(
        "SELECT t.status FROM tasks t JOIN media_files m ON m.id = t.media_file_id "
        "WHERE m.uuid = %s AND t.task_type = 'transcription'",
        uuid,
    )
    assert tasks == [("completed",)], f"one task, completed (no retry spent): {tasks}"
    print(f"the job found the storage down after {waited:.2f} s and completed {finished:.2f} s after it came back")
