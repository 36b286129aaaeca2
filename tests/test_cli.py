from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from repo import schema
from tests.embedded_support import alive, empty_home, kill_tree, tree
from tests.fault_support import wait_until


def _run(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "opentr_cli", *args], env=env, text=True, capture_output=True, timeout=timeout
    )


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    return {**base, "OPENTR_HOME": str(tmp_path / "home"), **extra}


def _url(conninfo: str) -> str:
    return schema.to_url(conninfo)


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"DATABASE_URL": "mysql://root@localhost/x"}, "DATABASE_URL: Value error, must be a postgresql:// URL"),
        ({"REDIS_URL": "http://localhost"}, "REDIS_URL: Value error, must be a redis://"),
        ({"DB_POOL_MAX": "many"}, "DB_POOL_MAX: Input should be a valid integer"),
        ({"DB_POOL_MIN": "9", "DB_POOL_MAX": "3"}, "DB_POOL_MIN: must not exceed DB_POOL_MAX"),
        ({"OPENTR_ENV": "production"}, "OPENTR_SECRET_KEY: required when OPENTR_ENV=production"),
        (
            {"OPENTR_ASR_ENGINE": "foo"},
            "OPENTR_ASR_ENGINE: Value error, expected one of faster-whisper, openai; got 'foo'",
        ),
        ({"DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nothing"}, "DATABASE_URL: cannot connect"),
    ],
)
def test_bad_configuration_is_one_clear_line_and_exit_code_2(
    tmp_path: Path, variables: dict[str, str], expected: str
) -> None:
    result = _run("db", "status", env=_env(tmp_path, **variables))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("opentr: error: ") and expected in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_db_check_passes(tmp_path: Path, server_url: str) -> None:
    result = _run("db", "check", env=_env(tmp_path, DATABASE_URL=_url(server_url)), timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "schemas identical" in result.stdout and "named queries prepare" in result.stdout


def test_user_create_and_status_and_inspect(tmp_path: Path, fresh_url: str) -> None:
    env = _env(tmp_path, DATABASE_URL=_url(fresh_url))
    created = subprocess.run(
        [
            sys.executable,
            "-m",
            "opentr_cli",
            "user",
            "create",
            "--email",
            "admin@example.com",
            "--admin",
            "--password-stdin",
        ],
        input="correct horse battery\n",
        env=env,
        text=True,
        capture_output=True,
        timeout=60,
    )
    assert created.returncode == 0, created.stderr
    assert "created admin admin@example.com" in created.stdout
    status = _run("db", "status", env=env)
    assert status.stdout.splitlines() == [f"applied  {m.id}" for m in schema.read_migrations()]
    inspect = _run("db", "inspect", env=env)
    assert inspect.returncode == 0, inspect.stderr
    assert "users" in inspect.stdout and "pool" in inspect.stdout


def test_backup_and_restore_into_a_new_database(tmp_path: Path, fresh_url: str, server_url: str) -> None:
    import psycopg

    env = _env(tmp_path, DATABASE_URL=_url(fresh_url))
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        conn.execute("INSERT INTO tags (name) VALUES ('backed up')")
    dump = tmp_path / "b.dump"
    assert _run("db", "backup", "-o", str(dump), env=env).returncode == 0
    target = f"opentr_test_restored_{os.getpid()}"
    restored = _run("db", "restore", str(dump), "--into", target, env=env)
    try:
        assert restored.returncode == 0, restored.stderr
        with psycopg.connect(schema.with_database(server_url, target)) as conn:
            assert conn.execute("SELECT name FROM tags").fetchall() == [("backed up",)]
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')


@pytest.fixture
def outside_pytest_tmp() -> Iterator[Path]:
    """A folder whose `home` is an embedded home outside pytest's temporary folders (see tests/embedded_support.py),
    removed afterwards with whatever still runs in it."""
    with empty_home() as home:
        yield home.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_dev_serves_health_and_stops_cleanly_on_ctrl_c(
    outside_pytest_tmp: Path, empty_url: str, redis_url: str
) -> None:
    """`opentr dev` on the session's kind of servers: embedded ones when no URLs are given."""
    port = _free_port()
    extra = {}
    if os.environ.get("DATABASE_URL"):
        extra = {"DATABASE_URL": _url(empty_url), "REDIS_URL": redis_url}
    tmp_path = outside_pytest_tmp
    proc = subprocess.Popen(
        [sys.executable, "-m", "opentr_cli", "dev", "--port", str(port)],
        env=_env(tmp_path, **extra),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        body = b""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2).read()
                break
            except OSError:
                time.sleep(0.3)
        assert b'"database":"ok"' in body
    finally:
        proc.send_signal(2)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert f"opentr is ready: open http://127.0.0.1:{port}/ in a browser" in out
    if not extra:
        assert (tmp_path / "home" / "pg" / "PG_VERSION").exists()
        assert not (tmp_path / "home" / "pg" / "postmaster.pid").exists(), "embedded PostgreSQL was stopped"


def test_commands_that_start_the_embedded_servers_print_no_warnings(outside_pytest_tmp: Path) -> None:
    """Without XDG_RUNTIME_DIR (services, containers, CI) pgserver's import used to print a RuntimeDirWarning."""
    tmp_path = outside_pytest_tmp
    env = {k: v for k, v in _env(tmp_path).items() if k != "XDG_RUNTIME_DIR"}
    helped = _run("--help", env=env)
    assert helped.returncode == 0 and helped.stderr == ""
    status = _run("db", "status", env=env, timeout=120)
    assert status.returncode == 0, status.stderr
    backup = _run("db", "backup", "-o", str(tmp_path / "b.dump"), env=env, timeout=120)
    assert backup.returncode == 0, backup.stderr
    assert "Warning" not in status.stderr + backup.stderr, status.stderr + backup.stderr


def test_every_flag_and_argument_of_every_command_says_what_it_does() -> None:
    from opentr_cli.cli import parser

    undescribed: list[str] = []

    def walk(command: argparse.ArgumentParser, name: str) -> None:
        for action in command._actions:
            if isinstance(action, argparse._SubParsersAction):
                undescribed.extend(f"{name} {c.dest}" for c in action._choices_actions if not c.help)
                for sub_name, sub in action.choices.items():
                    walk(sub, f"{name} {sub_name}")
            elif action.dest != "help" and not action.help:
                undescribed.append(f"{name} {'/'.join(action.option_strings) or action.dest}")

    walk(parser(), "opentr")
    assert undescribed == []


def test_dev_help_describes_each_flag(tmp_path: Path) -> None:
    result = _run("dev", "--help", env=_env(tmp_path))
    assert result.returncode == 0 and result.stderr == ""
    text = " ".join(result.stdout.split())
    assert "--host HOST address the web app listens on (default: 127.0.0.1" in text
    assert "--port PORT port the web app listens on (default: 8000)" in text
    assert "--no-worker run no worker" in text
    assert "closing the terminal stops all of it" in text


def _served(tmp_path: Path, fresh_url: str, redis_url: str, *args: str) -> tuple[subprocess.Popen[str], Path]:
    log = tmp_path / "served.log"
    env = _env(tmp_path, DATABASE_URL=_url(fresh_url), REDIS_URL=redis_url)
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "opentr_cli", *args], env=env, stdout=out, stderr=subprocess.STDOUT, text=True
        )
    return proc, log


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_stops_cleanly_on_a_hangup_and_frees_its_port(
    tmp_path: Path, fresh_url: str, redis_url: str, workers: int
) -> None:
    """uvicorn's multi-process supervisor took SIGHUP as "restart the workers": it ran on with no terminal."""
    port = _free_port()
    proc, log = _served(tmp_path, fresh_url, redis_url, "serve", "--port", str(port), "--workers", str(workers))
    try:

        def healthy() -> bool:
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                return bool(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2).status == 200)
            except OSError:
                return False

        wait_until(healthy, 120, "opentr serve to answer", interval=0.3)
        processes = tree(proc.pid)
        assert len(processes) >= workers, [p.cmdline() for p in processes]
        proc.send_signal(signal.SIGHUP)
        assert proc.wait(timeout=60) == 0, log.read_text()[-3000:]
        wait_until(lambda: not alive(processes), 30, "its worker processes to end")
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", port))
    finally:
        kill_tree(proc)


def test_worker_stops_cleanly_on_a_hangup_with_its_job_process(tmp_path: Path, fresh_url: str, redis_url: str) -> None:
    proc, log = _served(tmp_path, fresh_url, redis_url, "worker")
    try:
        wait_until(lambda: any("job_process" in " ".join(p.cmdline()) for p in tree(proc.pid)), 60, "the job process")
        processes = tree(proc.pid)
        proc.send_signal(signal.SIGHUP)
        assert proc.wait(timeout=60) == 0, log.read_text()[-3000:]
        assert not alive(processes)
        assert "SIGHUP received; stopping" in log.read_text()
    finally:
        kill_tree(proc)


def test_serve_on_a_busy_port_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = _run("serve", "--port", str(port), env=_env(tmp_path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"port {port} on 127.0.0.1 is already in use by pid {os.getpid()}" in lines[0], lines
