"""Object storage against a real S3-compatible server on loopback (moto's server mode: a standalone HTTP server
speaking the S3 REST protocol, the one such server that installs from PyPI here — no MinIO, Garage or SeaweedFS
binary is published on PyPI, apt or npm). boto3 talks to it over TCP exactly as to MinIO: multipart uploads,
ranged GETs, listings and deletes all cross the wire."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from pydantic import SecretStr
from redis import Redis
from starlette.testclient import TestClient

from bench.cluster import free_port
from config.settings import Settings
from repo import schema
from repo.database import Database
from storage.backend import PART, S3Storage, open_storage
from tests.scale_support import wait_port
from tests.web import register
from tests.workers_support import WorkerEnv, srt, wav
from web.app import create_app
from workers import cleanup as cleanup_module

BUCKET = "opentr-media"
CUES = [(0.0, 1.5, "SPEAKER_00", "Hello and welcome"), (1.5, 3.0, "SPEAKER_01", "Thanks for having me")]


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    wait_port(port)
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_settings(app_settings: Settings, s3_endpoint: str) -> Settings:
    prefix = os.urandom(4).hex()
    settings = app_settings.model_copy(
        update={
            "opentr_storage_url": f"s3://{BUCKET}/{prefix}",
            "opentr_s3_endpoint_url": s3_endpoint,
            "opentr_s3_access_key": "opentr",
            "opentr_s3_secret_key": SecretStr("opentr-secret"),
        }
    )
    bucket = _bucket(s3_endpoint)
    if bucket.creation_date is None:
        bucket.create()
    return settings


def _bucket(endpoint: str) -> Any:
    s3 = boto3.resource(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="opentr",
        aws_secret_access_key="opentr-secret",
        region_name="us-east-1",
    )
    return s3.Bucket(BUCKET)


def _objects(settings: Settings) -> dict[str, int]:
    storage = open_storage(settings)
    return {stored.key: stored.size for stored in storage.objects()}


def test_a_large_file_goes_up_in_parts_and_comes_back_byte_for_byte(s3_settings: Settings, tmp_path: Path) -> None:
    storage = open_storage(s3_settings)
    assert isinstance(storage, S3Storage)
    data = os.urandom(2 * PART + 12345)
    source = tmp_path / "big.part"
    source.write_bytes(data)

    storage.put_file(source, "7/big")

    assert not source.exists()
    head = storage.client.head_object(Bucket=BUCKET, Key=storage.name("7/big"))
    assert head["ContentLength"] == len(data) and head["ETag"].endswith('-3"')  # three parts
    assert b"".join(storage.read_range("7/big", PART - 5, PART + 4)) == data[PART - 5 : PART + 5]
    with storage.local_copy("7/big") as copy:
        assert copy.read_bytes() == data
    assert not copy.exists()
    storage.delete("7/big")
    assert not storage.exists("7/big")


def test_upload_ranged_content_processing_and_delete_through_s3(
    s3_settings: Settings, fresh_url: str, redis_url: str
) -> None:
    Redis.from_url(redis_url).flushdb()
    media = wav(3.0)
    with TestClient(create_app(s3_settings)) as client:
        headers = register(client)
        files = {
            "file": ("talk.wav", media, "audio/wav"),
            "transcript": ("talk.srt", srt(CUES), "application/x-subrip"),
        }
        created = client.post("/api/files", headers=headers, files=files)
        assert created.status_code == 201, created.text
        uuid = created.json()["uuid"]
        stored = _objects(s3_settings)
        assert sorted(size for size in stored.values()) == sorted([len(media), len(srt(CUES))])
        assert not [p for p in s3_settings.storage_dir.rglob("*") if p.is_file()]  # nothing kept on local disk

        ranged = client.get(f"/api/files/{uuid}/content", headers={**headers, "Range": "bytes=100-199"})
        assert ranged.status_code == 206 and ranged.content == media[100:200]
        assert ranged.headers["content-range"] == f"bytes 100-199/{len(media)}"
        tail = client.get(f"/api/files/{uuid}/content", headers={**headers, "Range": "bytes=-10"})
        assert tail.status_code == 206 and tail.content == media[-10:]
        whole = client.get(f"/api/files/{uuid}/content", headers=headers)
        assert whole.status_code == 200 and whole.content == media
        beyond = client.get(f"/api/files/{uuid}/content", headers={**headers, "Range": f"bytes={len(media)}-"})
        assert beyond.status_code == 416

        env = WorkerEnv(fresh_url, redis_url, s3_settings.opentr_home)
        result = env.run_burst(
            timeout=120,
            OPENTR_STORAGE_URL=str(s3_settings.opentr_storage_url),
            OPENTR_S3_ENDPOINT_URL=str(s3_settings.opentr_s3_endpoint_url),
            OPENTR_S3_ACCESS_KEY="opentr",
            OPENTR_S3_SECRET_KEY="opentr-secret",
        )
        assert result.returncode == 0, result.stderr[-3000:]
        assert client.get(f"/api/files/{uuid}", headers=headers).json()["status"] == "completed"
        transcript = client.get(f"/api/files/{uuid}/transcript", headers=headers).json()
        assert "Hello and welcome" in str(transcript)

        assert client.delete(f"/api/files/{uuid}", headers=headers).status_code == 204
        assert _objects(s3_settings) == {}


def test_cleanup_finds_stray_objects_and_rows_whose_object_is_gone(
    s3_settings: Settings, fresh_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with TestClient(create_app(s3_settings)) as client:
        headers = register(client)
        kept = client.post("/api/files", headers=headers, files={"file": ("a.wav", wav(1.0), "audio/wav")})
        lost = client.post("/api/files", headers=headers, files={"file": ("b.wav", wav(2.0), "audio/wav")})
        assert kept.status_code == lost.status_code == 201
    storage = open_storage(s3_settings)
    with Database(fresh_url, s3_settings) as db, db.transaction() as conn:
        row = conn.execute("SELECT id, storage_path FROM media_files WHERE uuid = %s", [lost.json()["uuid"]]).fetchone()
    assert row is not None
    storage.delete(row[1])
    storage.put_bytes("999/stray", b"left behind")
    monkeypatch.setattr(cleanup_module, "STRAY_FILE_AGE_SECONDS", -60)  # the object was written just now

    with Database(fresh_url, s3_settings) as db:
        report = cleanup_module.cleanup(db, storage, apply=True, spool=s3_settings.storage_dir / "incoming")
        with db.transaction() as conn:
            status = conn.execute("SELECT status FROM media_files WHERE id = %s", [row[0]]).fetchone()

    assert report.stray_files == ["999/stray"] and report.missing_media == [row[0]]
    assert status == ("orphaned",)
    assert "999/stray" not in _objects(s3_settings) and len(_objects(s3_settings)) == 1


def test_a_database_backup_is_copied_to_the_bucket_and_is_never_taken_for_stray_media(
    s3_settings: Settings, fresh_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "opentr.dump"
    env = {
        **os.environ,
        "DATABASE_URL": schema.to_url(fresh_url),
        "OPENTR_HOME": str(s3_settings.opentr_home),
        "OPENTR_STORAGE_URL": str(s3_settings.opentr_storage_url),
        "OPENTR_S3_ENDPOINT_URL": str(s3_settings.opentr_s3_endpoint_url),
        "OPENTR_S3_ACCESS_KEY": "opentr",
        "OPENTR_S3_SECRET_KEY": "opentr-secret",
    }
    done = subprocess.run(
        [sys.executable, "-m", "opentr_cli", "db", "backup", "-o", str(target)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    storage = open_storage(s3_settings)
    assert isinstance(storage, S3Storage)
    head = storage.client.head_object(Bucket=BUCKET, Key=storage.name("backups/opentr.dump"))
    assert head["ContentLength"] == target.stat().st_size > 0

    monkeypatch.setattr(cleanup_module, "STRAY_FILE_AGE_SECONDS", -60)
    with Database(fresh_url, s3_settings) as db:
        report = cleanup_module.cleanup(db, storage, apply=True, spool=s3_settings.storage_dir / "incoming")
    assert report.stray_files == []
    assert storage.client.head_object(Bucket=BUCKET, Key=storage.name("backups/opentr.dump"))["ContentLength"] > 0
