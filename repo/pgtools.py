"""PostgreSQL client programs (pg_dump, pg_restore, psql): find a new enough one, run it with progress."""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from functools import cache
from pathlib import Path

from config.settings import ConfigError

Progress = Callable[[str], None]


def _version(path: str) -> int:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return 0
    match = re.search(r"(\d+)(?:\.\d+)?", out)
    return int(match.group(1)) if match else 0


@cache
def find(tool: str) -> str:
    """The newest `tool` among pgserver's bundled binaries, Debian's versioned ones and PATH.

    pg_dump must be at least as new as the server it dumps, and a newer one dumps older servers.
    OPENTR_PG_DUMP, OPENTR_PG_RESTORE (OPENTR_<TOOL>) name the program to use instead; nothing else is tried then.
    """
    variable = f"OPENTR_{tool.upper()}"
    override = os.environ.get(variable)
    if override:
        if not (Path(override).is_file() and os.access(override, os.X_OK)):
            raise ConfigError(f"{variable}: {override} is not an executable program")
        return override
    candidates: list[str] = []
    try:
        from embedded.servers import import_pgserver

        import_pgserver()
        from pgserver._commands import POSTGRES_BIN_PATH

        candidates.append(str(Path(POSTGRES_BIN_PATH) / tool))
    except ImportError:
        pass
    candidates += sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"))
    on_path = shutil.which(tool)
    if on_path:
        candidates.append(on_path)
    found = [(v, c) for c in candidates if Path(c).exists() and (v := _version(c)) > 0]
    if not found:
        raise ConfigError(f"{tool}: not found (install the PostgreSQL client programs)")
    return max(found)[1]


def run(tool: str, args: list[str], progress: Progress | None = None) -> str:
    """Run a client program; stream its stderr lines to `progress`; raise RuntimeError with its message on failure."""
    command = [find(tool), *args]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    errors: list[str] = []
    assert proc.stderr is not None and proc.stdout is not None
    chunks: list[str] = []
    reader = threading.Thread(target=lambda: chunks.append(proc.stdout.read()) if proc.stdout else None)
    reader.start()  # stdout drains in parallel, or a large dump would fill its pipe while we read stderr
    for line in proc.stderr:
        line = line.rstrip()
        errors.append(line)
        if progress:
            progress(line)
    reader.join()
    out = "".join(chunks)
    if proc.wait() != 0:
        message = "; ".join(e for e in errors if "error" in e.lower()) or "; ".join(errors[-3:])
        raise RuntimeError(f"{tool} failed: {message}")
    return out


def stderr_progress(prefix: str) -> Progress:
    count = 0

    def show(line: str) -> None:
        nonlocal count
        count += 1
        short = line.split(":", 1)[-1].strip()[:70]
        sys.stderr.write(f"\r{prefix} [{count}] {short:<70}")
        sys.stderr.flush()

    return show
