"""Many processes on one database: `opentr serve --workers 4` and three job processes (`opentr worker
--processes 2` plus a plain `opentr worker`): the whole journey and the isolation matrix pass through the four web
processes, and 50 uploads from several users are each processed exactly once. `opentr serve` / `opentr worker`
warn, naming the numbers, when their pools could exceed what `max_connections` leaves free."""

from __future__ import annotations

import contextlib
import json
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import httpx
import psutil
import psycopg
import pytest
from redis import Redis

from bench.cluster import free_port
from config.settings import Settings
from tests import test_journey as journey
from tests.fuzz_support import private_redis as private_redis_server
from tests.llm_servers import LocalServer, Reply, openai_answer
from tests.workers_support import WorkerEnv, kill_group, srt, wav

WEB_PROCESSES = 4
UPLOADS = 50
CUES = [(0.0, 1.0, "SPEAKER_00", "first words"), (1.0, 2.0, "SPEAKER_01", "second words")]


@contextlib.contextmanager
def serve(env: dict[str, str], log: Path, processes: int = WEB_PROCESSES) -> Iterator[str]:
    """`opentr serve --workers N` on a free port; yields its base URL once all N processes hold a pool."""
    port = free_port()
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "opentr_cli", "serve", "--workers", str(processes), "--port", str(port)],
            env={**env, "DB_POOL_MIN": "1"},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _web_sessions(env["DATABASE_URL"]) < processes:
            assert process.poll() is None, log.read_text()[-3000:]
            time.sleep(0.2)
        assert _web_sessions(env["DATABASE_URL"]) >= processes, "every web process opened its own pool"
        servers = [p for p in psutil.Process(process.pid).children(recursive=True) if "spawn" in " ".join(p.cmdline())]
        assert len(servers) == processes, [p.cmdline() for p in servers]
        yield url
    finally:
        for child in [*psutil.Process(process.pid).children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.terminate()
        process.terminate()
        process.wait(20)


def _web_sessions(url: str) -> int:
    """Pooled sessions of the web app: idle, each web process holds DB_POOL_MIN (1) of them."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = 'opentr-web'"
        ).fetchone()
    return int(row[0]) if row else 0


@pytest.fixture
def env_of(fresh_url: str, tmp_path: Path) -> Iterator[WorkerEnv]:
    with private_redis_server() as redis_url:
        yield WorkerEnv(fresh_url, redis_url, tmp_path / "home")


def test_the_journey_passes_through_four_web_processes(
    env_of: WorkerEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journey, "uvicorn_server", serve)
    server = LocalServer(lambda _: Reply(body=openai_answer(json.dumps(journey.BLUF))))
    server.start()
    try:
        journey.test_whole_journey_through_a_real_server_and_worker(env_of, server, tmp_path)
    finally:
        server.stop()


def test_fifty_uploads_from_four_users_are_each_processed_once_by_three_job_processes(
    env_of: WorkerEnv, tmp_path: Path
) -> None:
    env = env_of.env()
    workers = [_worker(env, tmp_path / "worker-a.log", 2), _worker(env, tmp_path / "worker-b.log", 1)]
    try:
        with serve(env, tmp_path / "serve.log") as base, httpx.Client(base_url=base, timeout=60) as http:
            users = [_register(http) for _ in range(4)]

            def upload(index: int) -> str:
                headers = users[index % len(users)]
                files = {
                    "file": (f"talk-{index}.wav", wav(2.0 + index / 100), "audio/wav"),
                    "transcript": ("talk.srt", srt(CUES), "application/x-subrip"),
                }
                response = http.post("/api/files", headers=headers, files=files)
                assert response.status_code == 201, response.text
                return str(response.json()["uuid"])

            with ThreadPoolExecutor(8) as pool:
                uuids = list(pool.map(upload, range(UPLOADS)))

            deadline = time.monotonic() + 240
            while time.monotonic() < deadline and _completed(env_of) < UPLOADS:
                time.sleep(0.5)
            assert _completed(env_of) == UPLOADS, (tmp_path / "worker-a.log").read_text()[-3000:]

            for index, uuid in enumerate(uuids):
                transcript = http.get(f"/api/files/{uuid}/transcript", headers=users[index % len(users)])
                assert [s["text"] for s in transcript.json()] == ["first words", "second words"]
    finally:
        for worker in workers:
            if worker.poll() is None:
                kill_group(worker)

    per_file = env_of.query(
        "SELECT (SELECT count(*) FROM tasks t WHERE t.media_file_id = f.id AND t.task_type = 'transcription'),"
        " (SELECT count(*) FROM notifications n WHERE n.media_file_id = f.id AND n.title LIKE '%%transcript ready')"
        " FROM media_files f"
    )
    assert len(per_file) == UPLOADS  # one task per file, and its processing ended exactly once:
    assert {tasks for _, tasks in per_file} == {1} and {started for _, started in per_file} == {1}
    redis = Redis.from_url(env_of.redis_url)
    ran_by = {redis.hget(key, "worker_name") for key in redis.scan_iter("rq:job:*") if redis.type(key) == b"hash"}
    assert len(ran_by - {None, b""}) >= 2, "the work was shared between job processes"


def _worker(env: dict[str, str], log: Path, processes: int) -> subprocess.Popen[str]:
    with log.open("a") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "opentr_cli", "worker", "--processes", str(processes)],
            env={**env, "OPENTR_MAINTENANCE_SECONDS": "1"},
            text=True,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _register(http: httpx.Client) -> dict[str, str]:
    email = f"scale-{secrets.token_hex(4)}@example.com"
    assert http.post("/api/auth/register", json={"email": email, "password": journey.PASSWORD}).status_code == 201
    token = http.post("/api/auth/token", data={"username": email, "password": journey.PASSWORD}).json()
    return {"Authorization": f"Bearer {token['access_token']}"}


def _completed(env: WorkerEnv) -> int:
    return int(env.query("SELECT count(*) FROM media_files WHERE status = 'completed'")[0][0])


def test_a_warning_names_the_numbers_when_the_pools_could_exceed_max_connections(
    env_of: WorkerEnv, tmp_path: Path
) -> None:
    with psycopg.connect(env_of.conninfo, autocommit=True) as conn:
        row = conn.execute("SELECT current_setting('max_connections')::int").fetchone()
    assert row is not None
    result = subprocess.run(
        [sys.executable, "-m", "opentr_cli", "worker", "--burst", "--processes", "256"],
        env=env_of.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    planned = 3 + 256 * 3
    assert f"opentr worker --processes 256 may open {planned} PostgreSQL connections" in result.stderr
    assert f"max_connections={row[0]} leaves" in result.stderr

    quiet = subprocess.run(
        [sys.executable, "-m", "opentr_cli", "worker", "--burst", "--processes", "1"],
        env=env_of.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert quiet.returncode == 0 and "max_connections" not in quiet.stderr


class ServedClient(httpx.Client):
    """An httpx client on a served app, shaped like Starlette's TestClient where the isolation matrix reaches into
    the app (for the storage directory it plants a thumbnail in)."""

    def __init__(self, base_url: str, storage_dir: Path) -> None:
        super().__init__(base_url=base_url, timeout=60)
        self.app = SimpleNamespace(state=SimpleNamespace(services=SimpleNamespace(storage_dir=storage_dir)))


def test_the_isolation_matrix_passes_through_four_web_processes(
    env_of: WorkerEnv, fresh_url: str, tmp_path: Path
) -> None:
    """Every route, every resource of another user, across four processes that each hold their own pool: 404 every
    time, the owner's data unchanged (tests/test_isolation_matrix.py, driven over HTTP instead of in-process)."""
    from tests import test_isolation_matrix as matrix

    settings = Settings(opentr_home=env_of.home)
    with serve(env_of.env(), tmp_path / "serve.log") as base, ServedClient(base, settings.storage_dir) as client:
        matrix.test_every_route_isolates_users(client, fresh_url, settings)


def test_the_role_matrix_passes_through_four_web_processes(env_of: WorkerEnv, fresh_url: str, tmp_path: Path) -> None:
    """Every file route and every page that addresses a file, a collection or a profile x every kind of principal
    (owner, editor, commenter, viewers via a user / group / collection share, non-member, admin with and without the
    all-files view, anonymous, public-link holder), across four processes: the statuses of
    tests/test_isolation_matrix.py and tests/test_isolation_pages.py, the owner's data unchanged."""
    from tests import test_isolation_matrix as matrix
    from tests import test_isolation_pages as pages

    settings = Settings(opentr_home=env_of.home)
    with serve(env_of.env(), tmp_path / "serve.log") as base, ServedClient(base, settings.storage_dir) as client:
        api_checks = matrix.role_matrix(client, fresh_url, settings)
        page_checks = pages.page_matrix(client, fresh_url, settings)
    print(f"role matrix through four web processes: {api_checks} API and {page_checks} page checks")
    assert api_checks > 300 and page_checks > 200
