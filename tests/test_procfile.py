"""Step 7, item 7: the Procfile under a real Procfile runner on an empty database, and services that wait for the
schema instead of dying on a missing table."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from repo import schema
from tests.embedded_support import alive, empty_home, env_without_urls, processes_of, server_pids, tree
from tests.fault_support import ThrowawayRedis, wait_until
from tests.test_journey import _free_port
from tests.workers_support import WorkerEnv, kill_group, srt, wav

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse procfile 7"
LISTENING = re.compile(r"Uvicorn running on http://0\.0\.0\.0:(\d+)")


@pytest.fixture
def redis() -> Iterator[ThrowawayRedis]:
    with ThrowawayRedis() as server:
        yield server


def service_env(empty_url: str, redis: ThrowawayRedis, home: Path, **extra: str) -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)  # `opentr` and `uvicorn` of this environment, as the Procfile says
    return {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "DATABASE_URL": schema.to_url(empty_url),
        "REDIS_URL": redis.url,
        "OPENTR_HOME": str(home),
        **extra,
    }


def honcho(env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[str]:
    with log.open("w") as out:
        return subprocess.Popen(
            [str(Path(sys.executable).parent / "honcho"), "start", "-f", str(ROOT / "Procfile")],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            text=True,
        )


def serves_the_journey(runner: subprocess.Popen[str], log: Path) -> None:
    """Wait for uvicorn (after release migrated), then register, upload with a transcript, and read it back once the
    worker has processed it -- with every process of the Procfile still up."""

    def up() -> None:
        assert runner.poll() is None, log.read_text()[-4000:]

    def listening() -> bool:
        up()
        return LISTENING.search(log.read_text()) is not None

    # The runner hands each process its own PORT (base + 100 per process), as Procfile runners do: read the one
    # uvicorn says it listens on.
    wait_until(listening, 180, "uvicorn to listen (after release migrated)", interval=0.3)
    match = LISTENING.search(log.read_text())
    assert match is not None
    with httpx.Client(base_url=f"http://127.0.0.1:{match.group(1)}", timeout=10) as http:

        def healthy() -> bool:
            up()
            try:
                return http.get("/api/health").status_code == 200
            except httpx.TransportError:
                return False

        wait_until(healthy, 30, "the web process to answer", interval=0.3)
        email = f"procfile-{os.getpid()}@example.com"
        assert http.post("/api/auth/register", json={"email": email, "password": PASSWORD}).status_code == 201
        token = http.post("/api/auth/token", data={"username": email, "password": PASSWORD}).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        files = {
            "file": ("talk.wav", wav(1.0), "audio/wav"),
            "transcript": ("talk.srt", srt([(0.0, 1.0, "SPEAKER_00", "hello procfile")]), "application/x-subrip"),
        }
        uploaded = http.post("/api/files", headers=headers, files=files)
        assert uploaded.status_code == 201, uploaded.text
        uuid = uploaded.json()["uuid"]
        wait_until(
            lambda: http.get(f"/api/files/{uuid}/status", headers=headers).json()["status"] == "completed",
            60,
            "the worker to process the upload",
        )
        segments = http.get(f"/api/files/{uuid}/transcript", headers=headers).json()
        assert [s["text"] for s in segments] == ["hello procfile"]
    output = log.read_text()
    assert "Traceback" not in output and "UndefinedTable" not in output, output[-4000:]
    up()


def stop(runner: subprocess.Popen[str]) -> None:
    os.killpg(runner.pid, signal.SIGTERM)
    try:
        runner.wait(timeout=60)
    except subprocess.TimeoutExpired:
        kill_group(runner)


def test_honcho_start_on_an_empty_database_migrates_waits_and_serves_the_journey(
    empty_url: str, redis: ThrowawayRedis, tmp_path: Path
) -> None:
    log = tmp_path / "honcho.log"
    env = service_env(empty_url, redis, tmp_path / "home", PORT=str(_free_port()), OPENTR_MAINTENANCE_SECONDS="0.5")
    runner = honcho(env, tmp_path, log)
    try:
        serves_the_journey(runner, log)
    finally:
        stop(runner)


def test_honcho_start_on_an_empty_home_without_urls_shares_one_embedded_server_of_each(tmp_path: Path) -> None:
    """A fresh checkout: release, web and worker each start the embedded PostgreSQL and Redis at the same moment.
    They used to race to create the database (UniqueViolation, release exited 1, honcho stopped everything)."""
    log = tmp_path / "honcho.log"
    with empty_home() as home:
        env = env_without_urls(home, PORT=str(_free_port()), OPENTR_MAINTENANCE_SECONDS="0.5")
        runner = honcho(env, home.parent, log)
        try:
            serves_the_journey(runner, log)
            postmaster, redis = server_pids(home)
            assert postmaster is not None and redis is not None
            everything = [*tree(runner.pid), psutil.Process(postmaster), psutil.Process(redis), *processes_of(home)]
        finally:
            stop(runner)
        output = log.read_text()
        assert "UniqueViolation" not in output and "already exists" not in output, output[-4000:]
        assert "(rc=1)" not in output, output[-4000:]
        wait_until(lambda: not alive(everything), 60, "every process and both servers to stop")


def test_a_worker_on_an_empty_database_waits_for_the_schema_then_works(
    empty_url: str, redis: ThrowawayRedis, tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    env = service_env(empty_url, redis, tmp_path / "home", OPENTR_MAINTENANCE_SECONDS="0.2")
    with log.open("w") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "opentr_cli", "worker"], env=env, stdout=out, stderr=subprocess.STDOUT, text=True
        )
    try:
        wait_until(lambda: "waiting for the database" in log.read_text(), 30, "the worker to say it waits")
        time.sleep(1.0)
        assert worker.poll() is None, log.read_text()
        schema.migrate(empty_url, say=lambda _: None)
        workers = WorkerEnv(empty_url, redis.url, tmp_path / "home")
        arranged = workers.arrange(wav(), srt([(0.0, 1.0, "SPEAKER_00", "after the wait")]))
        wait_until(
            lambda: workers.query("SELECT status FROM media_files WHERE id = %s", arranged.file_id) == [("completed",)],
            60,
            "the job to run once the schema is there",
        )
        text = log.read_text()
        assert text.count("waiting for the database: the schema is not built yet") == 1, text
        assert "the database schema is ready" in text and "Traceback" not in text, text
    finally:
        kill_group(worker)


def test_a_worker_gives_up_waiting_for_the_schema_after_its_bound_with_one_line(
    empty_url: str, redis: ThrowawayRedis, tmp_path: Path
) -> None:
    env = service_env(empty_url, redis, tmp_path / "home", OPENTR_SCHEMA_WAIT_SECONDS="1")
    result = subprocess.run(
        [sys.executable, "-m", "opentr_cli", "worker"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1, result.stderr
    assert "the database schema was not ready after 1 s" in result.stderr and "Traceback" not in result.stderr
