"""The wheel is the product: built from the sources, installed (not editable) into a fresh virtualenv outside the
checkout, `opentr dev` must serve `/api/health` from a directory that is not the checkout.

To stay fast and offline the fresh environment borrows this environment's dependencies through a `.pth` file added
after the install; the project itself comes only from the wheel (the test proves it). `.ci/run` does the same with a
virtualenv that installs every dependency from the registry.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from config.settings import PROJECT_ROOT

pytestmark = pytest.mark.same_on_every_server  # reaches no server DATABASE_URL / REDIS_URL name (see conftest)

NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".venv", ".opentr", "build", "dist", "*.egg-info", "__pycache__", "*_cache", "results"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _install_wheel(tmp_path: Path) -> Path:
    """Build the wheel from a copy of the sources, install it into a new virtualenv; return that venv's bin/."""
    source, dist, venv = tmp_path / "source", tmp_path / "dist", tmp_path / "venv"
    shutil.copytree(PROJECT_ROOT, source, ignore=NOT_SOURCES)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", dist, source], check=True, timeout=120)
    (wheel,) = dist.glob("opentr-*.whl")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True, timeout=60)
    python = venv / "bin" / "python"
    subprocess.run([*pip, "--python", python, "install", "--no-deps", wheel], check=True, timeout=120)
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    borrowed = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(purelib) / "borrowed_dependencies.pth").write_text("\n".join(sorted(borrowed)) + "\n")
    return venv / "bin"


@pytest.mark.slow
def test_the_installed_wheel_runs_opentr_dev_outside_the_checkout(tmp_path: Path) -> None:
    bin_dir = _install_wheel(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    hidden = ("DATABASE_URL", "REDIS_URL", "PYTHONPATH", "OPENTR_MIGRATIONS_DIR", "VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items() if k not in hidden}
    # Not below tmp_path: as root, pgserver runs PostgreSQL as another user that must traverse every parent folder,
    # and any other pytest session on the machine resets /tmp/pytest-of-<user> to 0700.
    home = Path(tempfile.mkdtemp(prefix="opentr-wheel-home-"))
    env["OPENTR_HOME"] = str(home)

    where = subprocess.run(
        [bin_dir / "python", "-c", "import migrations, opentr_cli, repo, sql; print(repo.__file__, sql.__file__)"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert all(path.startswith(str(tmp_path / "venv")) for path in where), where

    port = _free_port()
    proc = subprocess.Popen(
        [bin_dir / "opentr", "dev", "--port", str(port)],
        cwd=elsewhere,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    body = b""
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2).read()
                break
            except OSError:
                time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        shutil.rmtree(home, ignore_errors=True)
    assert b'"database":"ok"' in body, out + err
    assert proc.returncode == 0, err
    assert "built the dev schema from sql/init_db.sql" in out
