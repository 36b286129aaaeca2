"""`opentr models pull` and model lookup, offline: clear one-line errors, never a hang or a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from huggingface_hub import constants

from asr import availability, models
from asr.errors import ModelMissing, TranscriptionError

pytestmark = pytest.mark.same_on_every_server  # reaches no server DATABASE_URL / REDIS_URL name (see conftest)

CLOSED_ENDPOINT = "http://127.0.0.1:9"  # the discard port: nothing listens there


def pull(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "HF_HUB_OFFLINE")}
    environment |= {"OPENTR_HOME": str(tmp_path / "home"), **env}
    return subprocess.run(
        [sys.executable, "-m", "opentr_cli", "models", "pull", *args],
        env=environment,
        text=True,
        capture_output=True,
        timeout=60,
    )


WAYS_ON = ["Without the model hub, transcription can still run:", *(f"  - {way}" for way in availability.WAYS_ON)]


@pytest.mark.parametrize("offline", [{"HF_ENDPOINT": CLOSED_ENDPOINT}, {"HF_HUB_OFFLINE": "1"}])
def test_pull_offline_is_one_line_then_the_ways_on_and_exit_code_1(tmp_path: Path, offline: dict[str, str]) -> None:
    result = pull(tmp_path, "small", **offline)

    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("opentr: cannot download model 'small' (Systran/faster-whisper-small): ")
    assert lines[0].endswith("cannot be reached")
    assert lines[1:] == WAYS_ON, result.stderr
    assert "OPENTR_ASR_MODEL" in lines[2] and "OPENTR_ASR_ENGINE=openai" in lines[3] and "transcript file" in lines[4]
    assert not (tmp_path / "home" / "models").exists()


def test_pull_of_an_unknown_name_lists_the_known_ones(tmp_path: Path) -> None:
    result = pull(tmp_path, "huge-v9", HF_ENDPOINT=CLOSED_ENDPOINT)

    assert result.returncode == 1
    assert result.stderr.startswith("opentr: unknown speech model 'huge-v9': expected a size name (tiny.en, tiny,")
    assert "large-v3" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_pull_of_a_local_directory_has_nothing_to_do(tmp_path: Path, tiny_whisper_dir: Path) -> None:
    result = pull(tmp_path, str(tiny_whisper_dir))

    assert result.returncode == 1
    expected = f"opentr: {tiny_whisper_dir} is a local model directory; there is nothing to download"
    assert result.stderr.strip() == expected


def test_a_local_model_directory_is_used_as_it_is(tmp_path: Path, tiny_whisper_dir: Path) -> None:
    assert models.resolve(str(tiny_whisper_dir), tmp_path / "models") == tiny_whisper_dir


def test_a_directory_without_a_model_is_named(tmp_path: Path) -> None:
    with pytest.raises(TranscriptionError, match=r"speech model directory '.*/empty' holds no CTranslate2 model"):
        models.resolve(str(tmp_path / "empty"), tmp_path / "models")


def test_a_downloaded_model_is_found_in_the_cache_without_the_network(
    tmp_path: Path, tiny_whisper_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cache layout `opentr models pull` writes (the hub's) is where a worker looks, offline."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    snapshot = tmp_path / "models" / "models--Systran--faster-whisper-tiny" / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    for file in tiny_whisper_dir.iterdir():
        (snapshot / file.name).write_bytes(file.read_bytes())
    refs = snapshot.parent.parent / "refs"
    refs.mkdir()
    (refs / "main").write_text("0" * 40)

    assert models.resolve("tiny", tmp_path / "models") == snapshot


class _NoModels(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"error": "Repository not found"}'
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def refusing_hub() -> Iterator[str]:
    """The URL of a hub that knows no model (404 for everything)."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _NoModels)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_pull_from_a_hub_that_refuses_is_one_line_then_the_ways_on(tmp_path: Path, refusing_hub: str) -> None:
    result = pull(tmp_path, "tiny", HF_ENDPOINT=refusing_hub)

    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("opentr: cannot download model 'tiny' (Systran/faster-whisper-tiny): ")
    assert lines[1:] == WAYS_ON
    assert "'404 Not Found' for url 'http://127.0.0.1:" in lines[0]
    assert "Traceback" not in result.stderr


def test_a_worker_whose_hub_refuses_gets_model_missing(
    tmp_path: Path, refusing_hub: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(constants, "ENDPOINT", refusing_hub)
    with pytest.raises(ModelMissing) as caught:
        models.resolve("tiny", tmp_path / "models")

    assert str(caught.value).startswith("speech model 'tiny' is not available on this machine (download failed: ")
    assert "404 Not Found" in str(caught.value)
    assert str(caught.value).endswith("; download it with: opentr models pull tiny")


# --- opentr models pull diarization --------------------------------------------------------------------------------


class _Releases(BaseHTTPRequestHandler):
    """A release server: serves what `files` maps paths to, 404 for the rest."""

    files: dict[str, bytes] = {}

    def do_GET(self) -> None:
        body = self.files.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def releases() -> Iterator[tuple[str, dict[str, bytes]]]:
    files: dict[str, bytes] = {}
    handler = type("Handler", (_Releases,), {"files": files})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", files
    httpd.shutdown()
    httpd.server_close()


def _tar_bz2(member: str, data: bytes) -> bytes:
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:bz2") as archive:
        info = tarfile.TarInfo(member)
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_pull_diarization_offline_is_one_line(tmp_path: Path) -> None:
    result = pull(tmp_path, "diarization", OPENTR_DIARIZATION_MODELS_URL=CLOSED_ENDPOINT)

    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"opentr: cannot download the diarization models: {CLOSED_ENDPOINT} cannot be reached"
    )
    assert not (tmp_path / "home" / "models" / "diarization" / "segmentation.onnx").exists()


def test_pull_diarization_names_the_file_the_server_refuses(
    tmp_path: Path, releases: tuple[str, dict[str, bytes]]
) -> None:
    url, _ = releases
    result = pull(tmp_path, "diarization", OPENTR_DIARIZATION_MODELS_URL=url)

    assert result.returncode == 1
    line = result.stderr.strip()
    assert line.startswith(
        f"opentr: cannot download {url}/speaker-segmentation-models/sherpa-onnx-pyannote-segmentation-3-0.tar.bz2: "
    )
    assert "404 Not Found" in line and len(result.stderr.strip().splitlines()) == 1


def test_pull_diarization_puts_both_models_where_the_settings_look(
    tmp_path: Path, releases: tuple[str, dict[str, bytes]], tiny_diarization_models: tuple[Path, Path]
) -> None:
    url, files = releases
    segmentation, embedding = (p.read_bytes() for p in tiny_diarization_models)
    for name, remote, member in models.DIARIZATION_FILES:
        data = segmentation if name == "segmentation.onnx" else embedding
        files[f"/{remote}"] = _tar_bz2(member, data) if member else data

    result = pull(tmp_path, "diarization", OPENTR_DIARIZATION_MODELS_URL=url)

    assert result.returncode == 0, result.stderr
    from config.settings import Settings

    settings = Settings(opentr_home=tmp_path / "home")
    assert settings.diarization_segmentation_model.read_bytes() == segmentation
    assert settings.diarization_embedding_model.read_bytes() == embedding


def test_pull_diarization_refuses_an_archive_without_the_model(
    tmp_path: Path, releases: tuple[str, dict[str, bytes]]
) -> None:
    url, files = releases
    _, remote, member = models.DIARIZATION_FILES[0]
    files[f"/{remote}"] = _tar_bz2("something-else/README.md", b"hello")

    result = pull(tmp_path, "diarization", OPENTR_DIARIZATION_MODELS_URL=url)

    assert result.returncode == 1
    assert result.stderr.strip().endswith(f"the archive holds no {member}")
