"""Issue 25: the disk of the storage directory fills up during an upload.

The storage directory is a 2 MB tmpfs the test mounts (as root, which CI is), so the kernel itself answers ENOSPC
while the upload is being received. The client gets a 507 saying the media storage is full (over real HTTP, from
uvicorn, before it has sent its whole body), the partial spool file is gone, nothing is recorded as uploaded and
the files already stored are intact; once space is freed (a file deleted) the same upload works.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from config.settings import Settings
from tests.fault_support import serve_app, users_with_tokens
from tests.workers_support import wav

pytestmark = pytest.mark.slow

DISK = 2 * 1024 * 1024


@pytest.fixture
def small_disk(app_settings: Settings) -> Iterator[Path]:
    """The storage directory on a tmpfs of 2 MB."""
    directory = app_settings.storage_dir
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK}", "tmpfs", str(directory)], check=True)
    try:
        yield directory
    finally:
        subprocess.run(["umount", "--lazy", str(directory)], check=True)


def _stored(directory: Path) -> dict[str, int]:
    return {str(p.relative_to(directory)): p.stat().st_size for p in directory.rglob("*") if p.is_file()}


def _rows(conninfo: str, email: str) -> list[tuple[str, int]]:
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            "SELECT m.storage_path, m.file_size FROM media_files m JOIN users u ON u.id = m.user_id"
            " WHERE u.email = %s ORDER BY m.id",
            [email],
        ).fetchall()
    return [(str(path), int(size)) for path, size in rows]


def test_an_upload_that_fills_the_disk_is_a_507_leaves_nothing_and_the_next_one_works_once_space_is_freed(
    app_settings: Settings, fresh_url: str, small_disk: Path
) -> None:
    headers = users_with_tokens(fresh_url, 1)[0]
    first, big = wav(40.0, rate=16000), wav(45.0, rate=16000)  # 1.28 MB stored, then 1.44 MB that cannot fit
    assert len(first) < DISK < len(first) + len(big)
    with serve_app(app_settings) as app, httpx.Client(base_url=app.url, headers=headers, timeout=30) as client:
        me = client.get("/api/users/me").json()
        kept = client.post("/api/files", files={"file": ("erste Größe.wav", first, "audio/wav")})
        assert kept.status_code == 201, kept.text
        before = _stored(small_disk)

        refused = client.post("/api/files", files={"file": ("会議 😀.wav", big, "audio/wav")})

        assert refused.status_code == 507, refused.text
        assert refused.json() == {
            "detail": "the media storage is full; nothing was stored (an administrator must free space)",
            "field": "file",
        }
        assert _stored(small_disk) == before, "the partial upload was left on the disk"
        assert len(_rows(fresh_url, me["email"])) == 1, "the refused upload was recorded"
        assert client.get(f"/api/files/{kept.json()['uuid']}/content").content == first, "the stored file changed"

        assert client.delete(f"/api/files/{kept.json()['uuid']}").status_code == 204
        again = client.post("/api/files", files={"file": ("会議 😀.wav", big, "audio/wav")})
        assert again.status_code == 201, again.text
        assert again.json()["filename"] == "会議 😀.wav"
        assert client.get(f"/api/files/{again.json()['uuid']}/content").content == big
        assert [size for _, size in _rows(fresh_url, me["email"])] == [len(big)]
