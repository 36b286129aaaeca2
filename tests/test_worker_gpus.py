"""`opentr worker` on a GPU machine: one job process per GPU, each seeing only its own (CUDA_VISIBLE_DEVICES).

This machine has no GPU, so what each job process is given is read from the real processes the real supervisor
starts: their environment as the kernel holds it (/proc/<pid>/environ) and the line each logs at start. The number
of GPUs `--gpus auto` sees is the probe's (`asr.devices.cuda_device_count`), which `workers.gpus.assign` takes as an
argument instead where a test needs two GPUs.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from config.settings import Settings
from tests.embedded_support import alive, kill_tree, tree
from tests.fault_support import wait_until
from tests.test_cli import _env, _url
from workers.gpus import Assignment, GpuChoiceError, assign, parse_gpus

GPU_SETTINGS = Settings(opentr_asr_engine="faster-whisper", opentr_asr_device="auto")


def job_processes(pid: int) -> list[psutil.Process]:
    return [p for p in tree(pid)[1:] if "workers.job_process" in " ".join(p.cmdline())]


def given(process: psutil.Process) -> str | None:
    """The CUDA_VISIBLE_DEVICES the process was started with."""
    environ: dict[str, str] = process.environ()
    return environ.get("CUDA_VISIBLE_DEVICES")


def reported(log: Path) -> list[tuple[str, str]]:
    """(pid, CUDA_VISIBLE_DEVICES) as each job process said it at start."""
    return re.findall(r"job process (\d+): CUDA_VISIBLE_DEVICES=(\S+)", log.read_text())


@pytest.mark.same_on_every_server
@pytest.mark.parametrize(
    ("choice", "processes", "settings", "gpus", "environ", "expected"),
    [
        ("auto", None, GPU_SETTINGS, 2, {}, Assignment(2, ("0", "1"))),
        ("auto", None, Settings(opentr_asr_device="cuda"), 2, {}, Assignment(2, ("0", "1"))),
        ("auto", None, GPU_SETTINGS, 0, {}, Assignment(1)),
        ("auto", 3, GPU_SETTINGS, 0, {}, Assignment(3)),
        ("auto", 2, GPU_SETTINGS, 4, {}, Assignment(2, ("0", "1", "2", "3"))),
        ("auto", 3, GPU_SETTINGS, 2, {}, Assignment(3, ("0", "1"))),
        # the model runs on the CPU, or in another server: the GPUs are not the worker's business
        ("auto", None, Settings(opentr_asr_device="cpu"), 2, {}, Assignment(1)),
        (
            "auto",
            None,
            Settings(opentr_asr_engine="openai", opentr_asr_remote_url="http://asr:8000"),
            2,
            {},
            Assignment(1),
        ),
        # already narrowed by a container runtime or a scheduler: the same physical GPUs, not 0 and 1
        ("auto", None, GPU_SETTINGS, 2, {"CUDA_VISIBLE_DEVICES": "2,3"}, Assignment(2, ("2", "3"))),
        ("auto", None, GPU_SETTINGS, 1, {"CUDA_VISIBLE_DEVICES": "GPU-5e0d,3"}, Assignment(1, ("GPU-5e0d",))),
        ("auto", None, GPU_SETTINGS, 2, {"CUDA_VISIBLE_DEVICES": ""}, Assignment(1)),
        (("1", "0"), None, Settings(opentr_asr_device="cpu"), 0, {}, Assignment(2, ("1", "0"))),
        (("0", "0"), None, GPU_SETTINGS, 1, {}, Assignment(2, ("0", "0"))),
        ("none", None, GPU_SETTINGS, 2, {}, Assignment(1)),
        ("none", 4, GPU_SETTINGS, 2, {}, Assignment(4)),
    ],
)
def test_the_assignment_for_a_number_of_gpus(
    choice: str | tuple[str, ...],
    processes: int | None,
    settings: Settings,
    gpus: int,
    environ: dict[str, str],
    expected: Assignment,
) -> None:
    assert assign(choice, processes, settings, gpu_count=gpus, environ=environ) == expected


@pytest.mark.same_on_every_server
def test_processes_take_the_gpus_in_turn_and_the_operator_hears_which_are_unused() -> None:
    three = Assignment(3, ("0", "1"))
    two_of_four = Assignment(2, ("0", "1", "2", "3"))

    assert [three.environment(slot, {"PATH": "/bin"}) for slot in range(3)] == [
        {"PATH": "/bin", "CUDA_VISIBLE_DEVICES": "0"},
        {"PATH": "/bin", "CUDA_VISIBLE_DEVICES": "1"},
        {"PATH": "/bin", "CUDA_VISIBLE_DEVICES": "0"},
    ]
    assert Assignment(2).environment(1, {"CUDA_VISIBLE_DEVICES": "7"}) == {"CUDA_VISIBLE_DEVICES": "7"}
    assert three.describe() == "3 job processes (0: GPU 0, 1: GPU 1, 2: GPU 0)"
    assert two_of_four.describe() == "2 job processes (0: GPU 0, 1: GPU 1); GPU 2, 3 unused"
    assert Assignment(1).describe() == "1 job process"


@pytest.mark.same_on_every_server
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("auto", "auto"),
        (" AUTO ", "auto"),
        ("none", "none"),
        ("0", ("0",)),
        ("1, 0", ("1", "0")),
        ("GPU-8f6e2b1c-93d4-4a55-9e2f-0c1d2e3f4a5b", ("GPU-8f6e2b1c-93d4-4a55-9e2f-0c1d2e3f4a5b",)),
    ],
)
def test_gpus_reads_auto_none_or_a_list(text: str, expected: str | tuple[str, ...]) -> None:
    assert parse_gpus(text) == expected


@pytest.mark.same_on_every_server
@pytest.mark.parametrize(
    "text", ["", "all", "0,,1", "-1", "cuda:0", "0;1", "1.5", "\uff10"]
)  # the last: a full-width zero
def test_gpus_refuses_anything_else(text: str) -> None:
    with pytest.raises(GpuChoiceError, match="expected auto, none or a comma-separated list of GPU numbers"):
        parse_gpus(text)


@pytest.mark.same_on_every_server
def test_a_bad_gpus_flag_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "opentr_cli", "worker", "--gpus", "cuda:0"],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 2
    assert "argument --gpus: expected auto, none or a comma-separated list" in done.stderr
    assert "'cuda:0'" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--processes", "3", "--gpus", "0,1"], ["0", "0", "1"]),
        (["--gpus", "1,0"], ["0", "1"]),
        ([], [None]),  # auto on a machine without a GPU: one process, its environment untouched
    ],
)
def test_opentr_worker_gives_each_job_process_its_gpu(
    tmp_path: Path, fresh_url: str, redis_url: str, flags: list[str], expected: list[str | None]
) -> None:
    log = tmp_path / "worker.log"
    env = {k: v for k, v in _env(tmp_path, DATABASE_URL=_url(fresh_url), REDIS_URL=redis_url).items()}
    env.pop("CUDA_VISIBLE_DEVICES", None)
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "opentr_cli", "worker", "--no-recovery", *flags],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(lambda: len(job_processes(proc.pid)) == len(expected), 90, "the job processes")
        children = job_processes(proc.pid)
        assert sorted(map(given, children), key=str) == expected
        if expected != [None]:
            wait_until(lambda: len(reported(log)) == len(expected), 60, "each to say its GPU")
            assert sorted(reported(log)) == sorted((str(p.pid), given(p)) for p in children)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, log.read_text()[-3000:]
        assert not alive(children)
    finally:
        kill_tree(proc)


SUPERVISOR = """
import sys
from config.settings import Settings
from workers.gpus import assign
from workers.runner import Supervisor

assignment = assign("auto", None, Settings(opentr_asr_device="cuda"), gpu_count=int(sys.argv[2]), environ={})
Supervisor(sys.argv[1], "gpu-test", assignment).run()
"""


@pytest.mark.parametrize("gpus", [1, 3])
def test_the_supervisor_starts_one_job_process_per_gpu_it_is_told_of(tmp_path: Path, redis_url: str, gpus: int) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    proc = subprocess.Popen([sys.executable, "-c", SUPERVISOR, redis_url, str(gpus)], env=env)
    try:
        wait_until(lambda: len(job_processes(proc.pid)) == gpus, 90, "one job process per GPU")
        children = job_processes(proc.pid)
        # the child's name is <name>-<slot>-<generation>: slot n was given GPU n
        by_slot = {p.cmdline()[-1].split("-")[-2]: given(p) for p in children}
        assert by_slot == {str(slot): str(slot) for slot in range(gpus)}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        assert not alive(children)
    finally:
        kill_tree(proc)
