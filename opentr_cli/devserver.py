"""`opentr dev`: both servers, the dev schema, the web app and one worker; Ctrl-C stops everything."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from types import FrameType

from asr import availability
from config.settings import Settings
from embedded import servers as embedded
from repo import schema


def ensure_dev_schema(conninfo: str) -> bool:
    """Build the schema from the init SQL on an empty database; True when it did."""
    if not schema.is_empty(conninfo):
        return False
    schema.build_from_init_sql(conninfo)
    schema.baseline(conninfo)
    return True


def run(settings: Settings, host: str, port: int, worker: bool = True) -> int:
    database_url = embedded.database_url(settings)
    redis_url = embedded.redis_url(settings)
    if ensure_dev_schema(database_url):
        print("built the dev schema from sql/init_db.sql")
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url}
    # Children get their own session: Ctrl-C reaches only us, and we stop them with a quiet SIGTERM. -P keeps the
    # current directory off sys.path, so a folder there named web/, sql/ or migrations/ cannot shadow ours.
    python = [sys.executable, "-P", "-m"]
    web = [*python, "uvicorn", "--factory", "web.app:create_app", "--host", host, "--port", str(port)]
    children = [subprocess.Popen(web, env=env, start_new_session=True)]
    if worker:
        worker_command = [*python, "opentr_cli", "worker"]
        children.append(subprocess.Popen(worker_command, env=env, start_new_session=True))
    print(f"opentr is running at http://{host}:{port}/api  (Ctrl-C stops it)", flush=True)
    print(availability.summary(settings), flush=True)

    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    code = 0
    try:
        while not stopping:
            exited = [c for c in children if c.poll() is not None]
            if exited:
                code = exited[0].returncode or 1
                print(f"a child process exited with code {exited[0].returncode}; stopping", file=sys.stderr)
                break
            time.sleep(0.2)
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for child in children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
        embedded.stop_all()
    return code
