"""`opentr dev` as a newcomer meets it: on an empty home with no server URLs, in real processes on free ports.

What it prints must be addresses that open, a busy port must be one line before anything starts, and however it
ends -- Ctrl-C, the terminal closed, a hangup of its process group, SIGKILL -- nothing of it may keep running, so
the next `opentr dev` in the same folder starts and serves.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import socket
import subprocess
import sys
import termios
import threading
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from tests.embedded_support import alive, empty_home, env_without_urls, kill_tree, processes_of, server_pids, tree
from tests.fault_support import wait_until
from tests.test_journey import _free_port

# reaches no server DATABASE_URL / REDIS_URL name (see conftest)
pytestmark = [pytest.mark.slow, pytest.mark.same_on_every_server]
READY = "opentr is ready: open "
START_SECONDS = 180  # initdb and the first start on a busy machine


@pytest.fixture
def home() -> Iterator[Path]:
    with empty_home() as path:
        yield path


def dev(home: Path, port: int, log: Path, *args: str) -> subprocess.Popen[str]:
    """`opentr dev`: what it prints goes to `log`, the servers' logs to `log`.stderr."""
    with log.open("w") as out, log.with_suffix(".stderr").open("w") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "opentr_cli", "dev", "--port", str(port), *args],
            env=env_without_urls(home),
            cwd=home.parent,
            stdout=out,
            stderr=err,
            text=True,
            start_new_session=True,  # its own process group, as a shell gives a command it runs
        )


def logs(log: Path) -> str:
    return log.read_text() + log.with_suffix(".stderr").read_text()[-4000:]


def wait_ready(proc: subprocess.Popen[str], read: Callable[[], str], what: str = "opentr dev") -> None:
    def ready() -> bool:
        text = read()
        assert proc.poll() is None, f"{what} exited with {proc.returncode}:\n{text[-4000:]}"
        return READY in text

    wait_until(ready, START_SECONDS, f"{what} to say it is ready", interval=0.2)


def everything_of(proc: subprocess.Popen[str], home: Path) -> list[psutil.Process]:
    """The dev process, every process under it, both embedded servers and their reapers."""
    wait_until(
        lambda: any("job_process" in " ".join(p.cmdline()) for p in tree(proc.pid)), 60, "the worker's job process"
    )
    processes = tree(proc.pid)
    postmaster, redis = server_pids(home)
    assert postmaster is not None and redis is not None
    processes += [psutil.Process(postmaster), psutil.Process(redis)]
    processes += [p for p in processes_of(home) if "embedded.reaper" in " ".join(p.cmdline())]
    names = " ".join(" ".join(p.cmdline()) for p in processes)
    assert "uvicorn" in names and "worker" in names and "job_process" in names and names.count("reaper") == 2, names
    return processes


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=10) as response:
        return int(response.status)


def serves_again(home: Path, tmp_path: Path) -> None:
    """The next `opentr dev` in the same home starts, serves its page and stops cleanly."""
    port = _free_port()
    log = tmp_path / "next-dev.log"
    proc = dev(home, port, log)
    try:
        wait_ready(proc, lambda: logs(log), "the next opentr dev")
        assert get(f"http://127.0.0.1:{port}/") == 200
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) == 0, logs(log)
    finally:
        kill_tree(proc)
    assert server_pids(home) == (None, None)


def test_dev_says_the_address_to_open_and_every_address_it_prints_answers(home: Path, tmp_path: Path) -> None:
    port, log = _free_port(), tmp_path / "dev.log"
    proc = dev(home, port, log)
    try:
        wait_ready(proc, lambda: logs(log))
        printed = re.findall(r"http://\S+[^\s,.)]", log.read_text())
        assert printed[0] == f"http://127.0.0.1:{port}/", printed
        assert {url.removeprefix(f"http://127.0.0.1:{port}") for url in printed} >= {"/", "/api/docs"}
        assert [get(url) for url in printed] == [200] * len(printed), printed
        everything = everything_of(proc, home)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) == 0, logs(log)
        assert not alive(everything), "Ctrl-C stops every process of it, the servers included"
    finally:
        kill_tree(proc)


def test_a_busy_port_is_one_line_naming_its_holder_and_exit_2_before_anything_starts(
    home: Path, tmp_path: Path
) -> None:
    port = _free_port()
    listen = (
        f"import socket, time; s = socket.socket(); s.bind(('127.0.0.1', {port})); s.listen(); "
        "print('up', flush=True); time.sleep(600)"
    )
    holder = subprocess.Popen([sys.executable, "-c", listen], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "up\n"
        result = subprocess.run(
            [sys.executable, "-m", "opentr_cli", "dev", "--port", str(port)],
            env=env_without_urls(home),
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"opentr: error: --port: port {port} on 127.0.0.1 is already in use by pid {holder.pid}")
    assert "import socket, time" in lines[0], "the holder's command line"
    assert not (home / "pg").exists() and not (home / "redis").exists(), "no embedded server was started"


def test_a_port_out_of_range_is_refused_by_the_argument_parser(home: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "opentr_cli", "dev", "--port", "70000"],
        env=env_without_urls(home),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "argument --port: '70000': a port number from 1 to 65535" in result.stderr


class Terminal:
    """A pseudo-terminal that `opentr dev` runs in as a shell's session leader does; closing it hangs up."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        self.output = b""
        self.open = True
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while self.open:
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                try:
                    self.output += os.read(self.master, 65536)
                except OSError:
                    return

    def text(self) -> str:
        return self.output.decode(errors="replace")

    def take_as_controlling_terminal(self) -> None:
        """In the child, after setsid: this terminal becomes its controlling terminal."""
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    def close(self) -> None:
        """The terminal window closes: the kernel sends SIGHUP to the session leader and its foreground group."""
        self.open = False
        self._reader.join()
        os.close(self.master)


@pytest.mark.parametrize("hangup", ["the terminal closes", "SIGHUP to its process group"])
def test_a_hangup_leaves_nothing_running_and_the_next_dev_in_the_folder_starts(
    home: Path, tmp_path: Path, hangup: str
) -> None:
    port, terminal = _free_port(), Terminal()
    proc = subprocess.Popen(
        [sys.executable, "-m", "opentr_cli", "dev", "--port", str(port)],
        env=env_without_urls(home),
        cwd=home.parent,
        stdin=terminal.slave,
        stdout=terminal.slave,
        stderr=terminal.slave,
        text=True,
        start_new_session=True,
        preexec_fn=terminal.take_as_controlling_terminal,
    )
    os.close(terminal.slave)
    try:
        wait_ready(proc, terminal.text)
        everything = everything_of(proc, home)
        if hangup == "the terminal closes":
            terminal.close()
        else:
            os.killpg(proc.pid, signal.SIGHUP)
        assert proc.wait(timeout=120) == 0, "a hangup stops it as Ctrl-C does"
        wait_until(lambda: not alive(everything), 60, "every process of it to end")
        assert port_is_free(port)
    finally:
        kill_tree(proc)
        if terminal.open:
            terminal.close()
    serves_again(home, tmp_path)


def test_sigkill_of_dev_leaves_nothing_running_and_the_next_dev_in_the_folder_starts(
    home: Path, tmp_path: Path
) -> None:
    port, log = _free_port(), tmp_path / "dev.log"
    proc = dev(home, port, log)
    try:
        wait_ready(proc, lambda: logs(log))
        everything = everything_of(proc, home)
        proc.kill()
        proc.wait(timeout=30)
        wait_until(lambda: not alive(everything), 60, "its children (PR_SET_PDEATHSIG) and servers (the reaper) to end")
        assert port_is_free(port)
    finally:
        kill_tree(proc)
    serves_again(home, tmp_path)
