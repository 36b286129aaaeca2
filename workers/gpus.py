"""Which GPU each job process of `opentr worker` gets (`--gpus`), and how many job processes there are.

A job process loads its speech model once and keeps it (asr/whisper.py), so two processes sharing a GPU hold two
copies and take turns on it. On a GPU machine the worker therefore runs one job process per GPU, and each sees only
its own through `CUDA_VISIBLE_DEVICES` (set in the child's environment before it starts, so CTranslate2, sherpa-onnx
and every other CUDA library in it agree; its model runs on `cuda:0`, which is that GPU).

- `--gpus auto` (the default): when the faster-whisper engine may use a GPU (`OPENTR_ASR_DEVICE` auto or cuda) and
  `asr.devices.cuda_device_count()` finds some, one job process per GPU; otherwise none is assigned.
- `--gpus 0,1` (numbers as nvidia-smi shows them, or GPU UUIDs): these; a number twice puts two processes on it.
- `--gpus none`: nothing is assigned; every job process inherits the environment as it is.

`--processes N` wins over the number of GPUs: processes take the GPUs in turn (`slot % len(gpus)`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from asr.devices import cuda_device_count
from config.settings import Settings

AUTO, NONE = "auto", "none"
VISIBLE = "CUDA_VISIBLE_DEVICES"
# A GPU as CUDA_VISIBLE_DEVICES names it: its index, or its UUID (GPU-…, MIG-… for a MIG instance).
GPU_ID = re.compile(r"[0-9]+|(GPU|MIG)-[0-9A-Za-z-]+")  # not \d, which takes any script's digits
Choice = str | tuple[str, ...]  # AUTO, NONE, or the GPUs listed


class GpuChoiceError(ValueError):
    """`--gpus` names no GPU list; the message is one line for the terminal."""


def parse_gpus(text: str) -> Choice:
    """`--gpus`: auto, none, or a comma-separated list of GPUs."""
    word = text.strip().lower()
    if word in (AUTO, NONE):
        return word
    listed = tuple(part.strip() for part in text.split(","))
    bad = [part for part in listed if not GPU_ID.fullmatch(part)]
    if bad or not listed:
        raise GpuChoiceError(
            f"expected auto, none or a comma-separated list of GPU numbers (0,1) or UUIDs (GPU-…); got {text!r}"
        )
    return listed


@dataclass(frozen=True)
class Assignment:
    """How many job processes run, and the GPU of each (none: they inherit the environment)."""

    processes: int
    gpus: tuple[str, ...] = ()

    def gpu_of(self, slot: int) -> str | None:
        return self.gpus[slot % len(self.gpus)] if self.gpus else None

    def environment(self, slot: int, base: Mapping[str, str]) -> dict[str, str]:
        """The environment job process `slot` starts with: `base`, and its GPU as the only one it can see."""
        env = dict(base)
        gpu = self.gpu_of(slot)
        if gpu is not None:
            env[VISIBLE] = gpu
        return env

    def describe(self) -> str:
        if not self.gpus:
            return f"{self.processes} job process{'es' if self.processes > 1 else ''}"
        slots = ", ".join(f"{slot}: GPU {self.gpu_of(slot)}" for slot in range(self.processes))
        unused = [gpu for gpu in dict.fromkeys(self.gpus) if gpu not in self.gpus[: self.processes]]
        left = f"; GPU {', '.join(unused)} unused" if unused else ""
        return f"{self.processes} job process{'es' if self.processes > 1 else ''} ({slots}){left}"


def assign(
    choice: Choice,
    processes: int | None,
    settings: Settings,
    *,
    gpu_count: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> Assignment:
    """The job processes for `--gpus choice` and `--processes processes` (None: not given). `gpu_count` is how
    many GPUs this process sees (None: ask CUDA); `environ` the environment it was started with (None: os.environ),
    whose CUDA_VISIBLE_DEVICES, when set, says which physical GPUs those are."""
    import os

    if choice == NONE:
        return Assignment(processes or 1)
    if choice == AUTO:
        gpus = _visible(settings, gpu_count, os.environ if environ is None else environ)
    else:
        gpus = tuple(choice)
    return Assignment(processes or max(1, len(gpus)), gpus)


def _visible(settings: Settings, gpu_count: int | None, environ: Mapping[str, str]) -> tuple[str, ...]:
    """The GPUs `--gpus auto` hands out: none unless the speech model may run on one."""
    if settings.opentr_asr_engine != "faster-whisper" or settings.opentr_asr_device == "cpu":
        return ()
    count = cuda_device_count() if gpu_count is None else gpu_count
    # Already narrowed (a container runtime, a scheduler): the child's CUDA_VISIBLE_DEVICES must name the same
    # physical GPUs, and "0" would be the machine's first, not the first this process was given.
    if VISIBLE in environ:  # set but empty hides every GPU, as it does from CUDA
        return tuple(part.strip() for part in environ[VISIBLE].split(",") if part.strip())[:count]
    return tuple(str(index) for index in range(count))
