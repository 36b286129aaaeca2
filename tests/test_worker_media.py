"""Uploads of real media through the API and a real `opentr worker --burst`: corrupt files, video thumbnails."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import pytest
from redis import Redis

from config.settings import Settings
from repo.database import Database
from tests.media_fixtures import encoded, random_bytes
from tests.web import register
from tests.workers_support import WorkerEnv, srt, wav
from workers.cleanup import cleanup

CUES = [(0.0, 1.5, "SPEAKER_00", "Hello and welcome"), (1.5, 3.0, "SPEAKER_01", "Thanks for having me")]


@pytest.fixture
def workers(app_settings: Settings, fresh_url: str, redis_url: str) -> Iterator[WorkerEnv]:
    Redis.from_url(redis_url).flushdb()  # only this test's jobs for the burst worker to find
    yield WorkerEnv(fresh_url, redis_url, app_settings.opentr_home)  # the app's storage
    Redis.from_url(redis_url).flushdb()


def upload(client: Any, headers: dict[str, str], name: str, data: bytes, content_type: str) -> str:
    files = {"file": (name, data, content_type), "transcript": ("talk.srt", srt(CUES), "application/x-subrip")}
    response = client.post("/api/files", headers=headers, files=files)
    assert response.status_code == 201, response.text
    return str(response.json()["uuid"])


def burst(workers: WorkerEnv) -> None:
    result = workers.run_burst(timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]


def test_a_corrupt_upload_ends_in_error_and_the_worker_carries_on(
    client: Any, workers: WorkerEnv, tmp_path: Path
) -> None:
    headers = register(client)
    corrupt = upload(client, headers, "talk.mp3", random_bytes(tmp_path / "noise").read_bytes(), "audio/mpeg")
    fine = upload(client, headers, "after.wav", wav(3.0), "audio/wav")

    burst(workers)

    status, message, category = workers.query(
        "SELECT status, last_error_message, error_category FROM media_files WHERE uuid = %s", corrupt
    )[0]
    assert (status, category) == ("error", "media")
    assert message == "could not read talk.mp3: not a recognised audio or video file (or a damaged one)"
    assert client.get(f"/api/files/{corrupt}/status", headers=headers).json()["status"] == "error"
    assert workers.query("SELECT status FROM media_files WHERE uuid = %s", fine) == [("completed",)]
    assert workers.query("SELECT count(*) FROM transcript_segments s JOIN media_files f ON f.id = s.media_file_id "
                         "WHERE f.uuid = %s", corrupt) == [(0,)]  # fmt: skip


def test_a_truncated_upload_names_what_is_missing(client: Any, workers: WorkerEnv) -> None:
    headers = register(client)
    whole = encoded("talk.mp3").read_bytes()
    cut = upload(client, headers, "interview.mp3", whole[: len(whole) // 2], "audio/mpeg")

    burst(workers)

    assert workers.query("SELECT status, last_error_message FROM media_files WHERE uuid = %s", cut) == [
        (
            "error",
            "could not read interview.mp3: it is truncated or damaged: "
            "its header declares 3.0 s of audio, only 1.5 s decode",
        )
    ]


def test_a_video_upload_gets_a_thumbnail_for_its_owner_only(
    client: Any, workers: WorkerEnv, db: Database, app_settings: Settings
) -> None:
    owner, stranger = register(client), register(client)
    video = upload(client, owner, "clip.mp4", encoded("clip.mp4").read_bytes(), "video/mp4")
    audio = upload(client, owner, "talk.mp3", encoded("talk.mp3").read_bytes(), "audio/mpeg")

    burst(workers)

    detail = client.get(f"/api/files/{video}", headers=owner).json()
    assert (detail["status"], detail["codec"], detail["resolution_width"], detail["resolution_height"]) == (
        "completed",
        "h264",
        320,
        180,
    )
    assert detail["has_waveform"] and detail["segment_count"] == 2
    served = client.get(f"/api/files/{video}/thumbnail", headers=owner)
    assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
    with av.open(io.BytesIO(served.content), "r") as picture:
        frame = next(picture.decode(video=0))
    assert (picture.format.name, frame.width, frame.height) == ("jpeg_pipe", 320, 180)
    assert client.get(f"/api/files/{video}/thumbnail", headers=stranger).status_code == 404
    assert client.get(f"/api/files/{audio}/thumbnail", headers=owner).status_code == 409  # the file has none
    assert client.get(f"/api/files/{audio}", headers=owner).json()["status"] == "completed"

    # cleanup knows the thumbnail (even an old one is not stray); deleting the file removes it
    (stored,) = workers.query("SELECT thumbnail_path FROM media_files WHERE uuid = %s", video)[0]
    path = app_settings.storage_dir / stored
    long_ago = time.time() - 7200
    os.utime(path, (long_ago, long_ago))
    assert stored not in cleanup(db, app_settings.storage_dir).stray_files
    assert client.delete(f"/api/files/{video}", headers=owner).status_code == 204
    assert not path.exists()
