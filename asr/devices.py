"""Which processor a speech model runs on, and the one probe of how many CUDA GPUs this process can use.

CTranslate2 answers the probe: 0 on a machine without a GPU or without the CUDA libraries it needs, and only the
GPUs `CUDA_VISIBLE_DEVICES` lets through otherwise, which is how `opentr worker` gives each job process a GPU of
its own (workers/gpus.py). Everything that asks "is there a GPU?" goes through `cuda_device_count`, and every
decision built on it takes the count as an argument too, so a test can ask what would happen with two GPUs on a
machine that has none.
"""

from __future__ import annotations

import logging
from typing import Literal

log = logging.getLogger("opentr.asr.devices")
Device = Literal["auto", "cpu", "cuda"]


def cuda_device_count() -> int:
    """How many CUDA devices CTranslate2 can use in this process (0 without a GPU or without CUDA)."""
    import ctranslate2

    try:
        return int(ctranslate2.get_cuda_device_count())
    except RuntimeError as exc:  # a CUDA driver too old for the libraries, for one: no usable GPU
        log.warning("no usable CUDA device: %s", exc)
        return 0


def runs_on_gpu(device: Device, gpus: int | None = None) -> bool:
    """Whether a model asked for on `device` runs on a GPU: `cuda` always, `cpu` never, `auto` when there is one
    (`gpus` GPUs; None: probe)."""
    if device != "auto":
        return device == "cuda"
    return (cuda_device_count() if gpus is None else gpus) > 0
