"""Arranging real jobs for worker tests: files in storage, rows, queued jobs, and a real `opentr worker`."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from numpy.typing import NDArray
from redis import Redis

from jobs import dispatch
from repo import schema
from repo.media_files import MediaFileRepository
from repo.rows import Actor
from tests import factories


def pcm_wav(samples: Sequence[float] | NDArray[np.floating[Any]], rate: int = 8000) -> bytes:
    """Mono 16-bit PCM WAV of `samples` in [-1, 1] (clipped)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(np.asarray(samples, dtype=np.float64), -1, 1) * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


def wav(seconds: float = 1.0, rate: int = 8000) -> bytes:
    """A square wave: any decoder reads it, and it is never silence."""
    square = np.where((np.arange(int(seconds * rate)) // 40) % 2 == 1, 1.0, -1.0) * (3000 / 32767)
    return pcm_wav(square, rate)


def srt(cues: list[tuple[float, float, str, str]]) -> bytes:
    def ts(t: float) -> str:
        ms = round(t * 1000)
        return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"

    blocks = [f"{i}\n{ts(a)} --> {ts(b)}\n[{who}]: {text}\n" for i, (a, b, who, text) in enumerate(cues, 1)]
    return "\n".join(blocks).encode()


def many_cues(count: int) -> list[tuple[float, float, str, str]]:
    return [
        (i * 2.0, i * 2.0 + 1.5, f"SPEAKER_0{i % 2}", f"sentence number {i} about topic {i % 7}") for i in range(count)
    ]


@dataclass
class Arranged:
    file_id: int
    task_id: str
    owner: Actor


@dataclass
class WorkerEnv:
    conninfo: str
    redis_url: str
    home: Path

    @property
    def storage(self) -> Path:
        return self.home / "storage"

    def env(self, **extra: str) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        return {
            **base,
            "DATABASE_URL": schema.to_url(self.conninfo),
            "REDIS_URL": self.redis_url,
            "OPENTR_HOME": str(self.home),
            **extra,
        }

    def arrange(
        self,
        media: bytes,
        sidecar: bytes | None,
        owner: Actor | None = None,
        name: str = "talk.wav",
        *,
        enqueue: bool = True,
    ) -> Arranged:
        with psycopg.connect(self.conninfo, autocommit=True) as conn, conn.transaction():
            owner = owner or factories.user(conn)
            relative = f"{owner.id}/{os.urandom(8).hex()}"
            path = self.storage / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(media)
            if sidecar is not None:
                path.with_name(path.name + ".transcript").write_bytes(sidecar)
            created = MediaFileRepository(conn).create(
                owner,
                filename=name,
                storage_path=relative,
                file_size=len(media),
                content_type="audio/wav",
                file_hash=None,
            )
            task_id = dispatch.queue_processing(conn, created.id, owner.id)
        if enqueue:
            dispatch.enqueue_processing(Redis.from_url(self.redis_url), created.id, task_id)
        return Arranged(created.id, task_id, owner)

    def run_burst(self, timeout: float = 180, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "opentr_cli", "worker", "--burst"],
            env=self.env(**extra),
            text=True,
            capture_output=True,
            timeout=timeout,
        )

    def start(self, **extra: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "opentr_cli", "worker", "--burst"],
            env=self.env(**extra),
            text=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def serve(self, log: Path, **extra: str) -> subprocess.Popen[str]:
        """`opentr worker` as a supervisor runs it (not --burst): maintenance every 0.2 s unless told otherwise."""
        env = self.env(**{"OPENTR_MAINTENANCE_SECONDS": "0.2", **extra})
        with log.open("a") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "opentr_cli", "worker"],
                env=env,
                text=True,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.conninfo) as conn:
            return conn.execute(sql, params).fetchall()


def kill_group(proc: subprocess.Popen[str]) -> None:
    """SIGKILL the worker and its work horse at once, as an OOM killer or a lost node would.

    RQ puts the horse in a session of its own, so the process tree is walked rather than the group."""
    import psutil

    parent = psutil.Process(proc.pid)
    for process in [*parent.children(recursive=True), parent]:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


def whisperx(segments: list[dict[str, Any]]) -> bytes:
    return json.dumps({"segments": segments}).encode()
