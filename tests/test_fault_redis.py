"""Issue 7, item 3: Redis goes away and comes back.

The app (uvicorn in this process) and an `opentr worker` run against a redis-server this test owns on a unix
socket. While it is down, work that needs the queue answers 503 with a clear message and Retry-After, reads keep
working and sign-in is refused (its lockout counter lives in Redis: fail-closed by design). A job enqueued before a
restart without persistence is re-enqueued by recovery and completes; with an append-only file it simply runs.
"""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from rq import Queue

from config.settings import Settings
from jobs.queues import MEDIA
from repo import schema
from tests.fault_support import ServedApp, ThrowawayRedis, serve_app, wait_until
from tests.workers_support import WorkerEnv, kill_group, srt, wav

pytestmark = pytest.mark.slow

PASSWORD = "correct horse 1"
LENGTHS = itertools.count()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def settings_for(conninfo: str, redis: ThrowawayRedis, home: Path) -> Settings:
    return Settings(
        database_url=schema.to_url(conninfo), redis_url=redis.url, opentr_home=home, db_pool_max=4, db_pool_timeout=5
    )


@pytest.fixture
def volatile_redis() -> Iterator[ThrowawayRedis]:
    with ThrowawayRedis(persistent=False) as redis:
        yield redis


@pytest.fixture
def persistent_redis() -> Iterator[ThrowawayRedis]:
    with ThrowawayRedis(persistent=True) as redis:
        yield redis


def sign_up(client: httpx.Client) -> tuple[str, dict[str, str]]:
    email = f"redis-{secrets.token_hex(5)}@example.com"
    created = client.post("/api/auth/register", json={"email": email, "password": PASSWORD})
    assert created.status_code == 201, created.text
    token = client.post("/api/auth/token", data={"username": email, "password": PASSWORD})
    assert token.status_code == 200, token.text
    return email, {"Authorization": f"Bearer {token.json()['access_token']}"}


def upload(client: httpx.Client, headers: dict[str, str], text: str) -> httpx.Response:
    files = {
        "file": (f"{text}.wav", wav(0.5 + next(LENGTHS) / 100), "audio/wav"),  # distinct: no duplicate
        "transcript": ("talk.srt", srt([(0.0, 0.5, "SPEAKER_00", text)]), "application/x-subrip"),
    }
    return client.post("/api/files", headers=headers, files=files)


def queued_job_ids(redis: ThrowawayRedis) -> list[str]:
    return list(Queue(MEDIA, connection=redis.client()).get_job_ids())


def assert_unavailable(response: httpx.Response, mentions: str) -> None:
    assert response.status_code == 503, response.text
    assert response.headers.get("retry-after", "").isdigit(), response.headers
    assert mentions in response.json()["detail"], response.text
    assert response.elapsed.total_seconds() < 5, "a 503 must come fast, not after a hang"


def file_state(workers: WorkerEnv, uuid: str) -> tuple[Any, ...]:
    rows = workers.query(
        "SELECT f.status, f.active_task_id, f.recovery_attempts,"
        " (SELECT count(*) FROM transcript_segments s WHERE s.media_file_id = f.id),"
        " (SELECT array_agg(t.status ORDER BY t.created_at) FROM tasks t"
        "  WHERE t.media_file_id = f.id AND t.task_type = 'transcription')"
        " FROM media_files f WHERE f.uuid = %s",
        uuid,
    )
    assert len(rows) == 1
    return rows[0]


def test_while_redis_is_down_queue_work_answers_503_and_lost_jobs_are_recovered(
    fresh_url: str, volatile_redis: ThrowawayRedis, home: Path
) -> None:
    workers = WorkerEnv(fresh_url, volatile_redis.url, home)
    app: ServedApp
    with (
        serve_app(settings_for(fresh_url, volatile_redis, home)) as app,
        httpx.Client(base_url=app.url, timeout=20) as client,
    ):
        email, headers = sign_up(client)
        first = upload(client, headers, "before the restart")
        assert first.status_code == 201, first.text
        uuid = first.json()["uuid"]
        task_id = file_state(workers, uuid)[1]
        assert queued_job_ids(volatile_redis) == [task_id]

        volatile_redis.stop()  # no persistence: the queued job is gone with it
        assert_unavailable(upload(client, headers, "during the outage"), "Redis")
        assert_unavailable(client.post(f"/api/files/{uuid}/summaries", headers=headers, json={}), "Redis")
        assert_unavailable(client.post("/api/auth/token", data={"username": email, "password": PASSWORD}), "Redis")
        listed = client.get("/api/files", headers=headers)
        assert listed.status_code == 200 and [f["uuid"] for f in listed.json()["items"]] == [uuid], "nothing stored"
        assert client.get(f"/api/files/{uuid}", headers=headers).status_code == 200
        assert client.get("/api/users/me", headers=headers).status_code == 200
        health = client.get("/api/health")
        assert health.status_code == 200 and health.json()["status"] == "degraded", health.text
        assert health.json()["redis"].startswith("unavailable")

        volatile_redis.start()  # empty: the job enqueued before the restart vanished
        assert queued_job_ids(volatile_redis) == []
        assert client.post("/api/auth/token", data={"username": email, "password": PASSWORD}).status_code == 200
        second = upload(client, headers, "after the restart")
        assert second.status_code == 201, second.text
        assert client.get("/api/health").json()["status"] == "ok"

    result = workers.run_burst(timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    status, _, recovery_attempts, segments, tasks = file_state(workers, uuid)
    assert (status, segments, tasks) == ("completed", 1, ["completed"]), "re-enqueued with its own task, run once"
    assert recovery_attempts == 0, "a queued file whose job vanished is enqueued again, not counted as a crash"
    [(task_id,)] = workers.query(
        "SELECT t.id FROM tasks t JOIN media_files m ON m.id = t.media_file_id"
        " WHERE m.uuid = %s AND t.task_type = 'transcription'",
        uuid,
    )
    assert f"Redis did not hold: {task_id}" in result.stderr, result.stderr[-3000:]
    assert file_state(workers, second.json()["uuid"])[0] == "completed"


def test_jobs_queued_in_a_persistent_redis_simply_run_after_its_restart(
    fresh_url: str, persistent_redis: ThrowawayRedis, home: Path
) -> None:
    workers = WorkerEnv(fresh_url, persistent_redis.url, home)
    with (
        serve_app(settings_for(fresh_url, persistent_redis, home)) as app,
        httpx.Client(base_url=app.url, timeout=20) as client,
    ):
        _, headers = sign_up(client)
        uploads = [upload(client, headers, f"persisted {i}") for i in range(2)]
        assert [u.status_code for u in uploads] == [201, 201], [u.text for u in uploads]
    uuids = [u.json()["uuid"] for u in uploads]
    queued = queued_job_ids(persistent_redis)
    assert len(queued) == 2

    persistent_redis.restart()
    assert queued_job_ids(persistent_redis) == queued, "the append-only file kept the queue"
    result = workers.run_burst(timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    for uuid in uuids:
        status, _, recovery_attempts, segments, tasks = file_state(workers, uuid)
        assert (status, recovery_attempts, segments, tasks) == ("completed", 0, 1, ["completed"])


def test_a_running_worker_outlives_a_redis_outage_and_finishes_every_acknowledged_upload(
    fresh_url: str, volatile_redis: ThrowawayRedis, home: Path, tmp_path: Path
) -> None:
    """Redis stops for 10 s under a burst of uploads and comes back empty; the same worker process carries on:
    uploads during the outage were refused with 503 + Retry-After, every acknowledged one ends `completed`."""
    workers = WorkerEnv(fresh_url, volatile_redis.url, home)
    log = tmp_path / "worker.log"
    worker = workers.serve(log)
    results: list[httpx.Response] = []
    stop = threading.Event()
    try:
        with serve_app(settings_for(fresh_url, volatile_redis, home)) as app:

            def burst(headers: dict[str, str]) -> None:
                with httpx.Client(base_url=app.url, timeout=20) as client:
                    while not stop.is_set():
                        results.append(upload(client, headers, f"burst {len(results)}"))
                        time.sleep(0.1)

            with httpx.Client(base_url=app.url, timeout=20) as client:
                _, headers = sign_up(client)
            uploader = threading.Thread(target=burst, args=(headers,))
            uploader.start()
            try:
                wait_until(lambda: sum(r.status_code == 201 for r in results) >= 3, 30, "uploads before the outage")
                volatile_redis.stop()
                time.sleep(10)
                before_restart = len(results)
                volatile_redis.start()  # empty: whatever was queued is gone
                wait_until(
                    lambda: sum(r.status_code == 201 for r in results[before_restart:]) >= 3, 30, "uploads after it"
                )
            finally:
                stop.set()
                uploader.join(timeout=30)
        acknowledged = [r.json()["uuid"] for r in results if r.status_code == 201]
        refused = [r for r in results if r.status_code != 201]
        assert refused, "no upload met the outage"
        for response in refused:
            assert_unavailable(response, "")
        wait_until(
            lambda: all(file_state(workers, uuid)[0] == "completed" for uuid in acknowledged),
            60,
            "every acknowledged upload to complete",
        )
        assert worker.poll() is None, "the worker process must outlive the outage"
        text = log.read_text()
        assert text.count("Redis unavailable") == 1 and text.count("Redis available again") == 1, text[-4000:]
        assert "Traceback" not in text, text[-4000:]
        print(f"{len(acknowledged)} uploads acknowledged and completed, {len(refused)} refused with 503")
    finally:
        kill_group(worker)
