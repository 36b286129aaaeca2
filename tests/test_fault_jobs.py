"""An unavailable database is never a verdict on the user's file (issue 20).

A real `opentr worker` reaches a throwaway cluster through a TCP proxy; the proxy stops (every connection cut, new
ones refused) for longer than DB_POOL_TIMEOUT while a job runs, then comes back. The run skeleton
(workers/jobrun.py) waits for the database and runs the job again; maintenance gives the job time to take its lock
again before recovery looks, so the outage spends none of the file's retries.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from redis import Redis

from jobs import dispatch
from tests import factories
from tests.fault_support import TcpProxy, ThrowawayPostgres, tcp_conninfo, wait_until
from tests.llm_servers import LocalServer, Reply, Responder, in_turn, openai_answer, serving
from tests.test_worker_summaries import BLUF, CUES, add_config, notifications, summary_row, transcribed_file
from tests.workers_support import WorkerEnv, kill_group, many_cues, srt, wav

pytestmark = pytest.mark.slow
LONG_TRANSCRIPT = 60_000  # cues, as in the failover that found it: the transcript COPY takes seconds
OUTAGE_SECONDS = 3.0


@pytest.fixture(scope="module")
def cluster() -> Iterator[ThrowawayPostgres]:
    with ThrowawayPostgres(prefix="opentr-fault-jobs-") as pg:
        yield pg


@pytest.fixture
def direct(cluster: ThrowawayPostgres, redis_url: str, tmp_path: Path) -> Iterator[WorkerEnv]:
    """The test's own way to the database (arranging, reading); the worker goes through `proxy`."""
    Redis.from_url(redis_url).flushdb()
    yield WorkerEnv(cluster.create_database(f"opentr_jobs_{secrets.token_hex(4)}"), redis_url, tmp_path / "home")
    Redis.from_url(redis_url).flushdb()


@pytest.fixture
def proxy(cluster: ThrowawayPostgres) -> Iterator[TcpProxy]:
    with TcpProxy(cluster.socket_path) as running:
        yield running


@pytest.fixture(params=["1", "5"], ids=["outage-longer-than-the-pool-timeout", "connections-lost-within-it"])
def pool_timeout(request: pytest.FixtureRequest) -> str:
    """1 s: the pool gives up three times during the outage. 5 s: the lost connections fail the job's statement at
    once, and a write of a failure would have waited long enough to see the database back (that ended files
    `error` for good)."""
    return str(request.param)


@pytest.fixture
def worker(direct: WorkerEnv, proxy: TcpProxy, pool_timeout: str, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """Starts `opentr worker` on the proxied database; yields a function returning its log so far."""
    proxied = WorkerEnv(tcp_conninfo(direct.conninfo, proxy.port), direct.redis_url, direct.home)
    log = tmp_path / "worker.log"
    started = proxied.serve(log, DB_POOL_TIMEOUT=pool_timeout)
    yield lambda: log.read_text(errors="replace")
    if started.poll() is None:
        kill_group(started)


def outage(proxy: TcpProxy) -> None:
    proxy.stop()
    time.sleep(OUTAGE_SECONDS)
    proxy.start()


def test_a_file_processed_across_a_database_outage_completes_once_spending_no_retry(
    direct: WorkerEnv, proxy: TcpProxy, worker: Callable[[], str]
) -> None:
    arranged = direct.arrange(wav(), srt(many_cues(LONG_TRANSCRIPT)))
    wait_until(lambda: copying(direct), 180, "the transcript COPY to start")
    outage(proxy)

    def state() -> tuple[str, int, int]:
        [row] = direct.query(
            "SELECT status, recovery_attempts, (SELECT count(*) FROM transcript_segments WHERE media_file_id = m.id)"
            " FROM media_files m WHERE id = %s",
            arranged.file_id,
        )
        return row

    wait_until(lambda: state()[0] not in ("queued", "processing"), 240, "the file to be done")
    log = worker()
    assert state() == ("completed", 0, LONG_TRANSCRIPT), log  # not `error`, and no retry spent on the outage
    assert direct.query(
        "SELECT count(DISTINCT (start_time, text)) FROM transcript_segments WHERE media_file_id = %s", arranged.file_id
    ) == [(LONG_TRANSCRIPT,)]
    transcription = "SELECT status FROM tasks WHERE media_file_id = %s AND task_type = 'transcription'"
    assert direct.query(transcription, arranged.file_id) == [("completed",)]
    assert "the database is unavailable" in log and "running the transcription job again" in log, log
    assert "recovery:" not in log, log


def copying(env: WorkerEnv) -> bool:
    rows = env.query(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'COPY%%'"
        " AND state = 'active'"
    )
    return bool(rows[0][0] > 0)


@pytest.fixture
def serve() -> Iterator[Callable[[Responder], LocalServer]]:
    with serving() as start:
        yield start


@pytest.mark.parametrize("pool_timeout", ["1"], indirect=True, ids=["outage-longer-than-the-pool-timeout"])
def test_a_summary_answered_during_an_outage_is_stored_once_the_database_is_back(
    direct: WorkerEnv, proxy: TcpProxy, worker: Callable[[], str], serve: Callable[[Responder], LocalServer]
) -> None:
    """The LLM answers while the database is away: the answer is kept, stored when the database is back, and the
    provider is asked once."""
    server = serve(in_turn(Reply(body=openai_answer(json.dumps(BLUF)), sleep=60)))  # answers when released
    with psycopg.connect(direct.conninfo, autocommit=True) as conn:
        owner = factories.user(conn)
        add_config(direct, conn, owner, server)
        file_id = transcribed_file(conn, owner, CUES, filename="Besprechung-Müller.wav")
        with conn.transaction():
            summary_id, task_id = dispatch.queue_summary(conn, owner.id, file_id)
    assert dispatch.enqueue_summary(Redis.from_url(direct.redis_url), summary_id, task_id)
    wait_until(lambda: bool(server.requests), 60, "the summary request")
    proxy.stop()
    server.released.set()  # the answer arrives while no connection to the database can be had
    time.sleep(OUTAGE_SECONDS)
    proxy.start()

    wait_until(lambda: summary_row(direct, summary_id)["status"] != "processing", 60, "the summary to be stored")
    log = worker()
    row = summary_row(direct, summary_id)
    assert (row["status"], row["bluf"]) == ("completed", BLUF["bluf"]), log
    assert len(server.requests) == 1
    assert direct.query("SELECT status FROM tasks WHERE id = %s", task_id) == [("completed",)]
    assert notifications(direct, task_id)[-1] == ("summary", "Besprechung-Müller.wav: summary ready", BLUF["bluf"])
    assert "the database is unavailable" in log and "recovery:" not in log, log
