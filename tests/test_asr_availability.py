"""Whether speech can be transcribed, said before anyone uploads (asr/availability.py): `opentr dev`, the upload
page, `GET /api/health`, `opentr models list`; with the tiny model fixtures present and absent."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from asr import availability
from asr.availability import WAYS_ON, speech_models, speech_status
from config.settings import Settings
from tests.web import make_admin, sign_up


def settings_with(tmp_path: Path, **values: Any) -> Settings:
    return Settings(opentr_home=tmp_path / "home", **values)


def cached_copy(models_dir: Path, tiny_whisper_dir: Path) -> Path:
    """The tiny model where `opentr models pull tiny` puts a download (the model hub's cache layout)."""
    snapshot = models_dir / "models--Systran--faster-whisper-tiny" / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    for file in tiny_whisper_dir.iterdir():
        (snapshot / file.name).write_bytes(file.read_bytes())
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs" / "main").write_text("0" * 40)
    return snapshot


def test_a_model_folder_in_opentr_asr_model_is_ready(tmp_path: Path, tiny_whisper_dir: Path) -> None:
    status = speech_status(settings_with(tmp_path, opentr_asr_model=str(tiny_whisper_dir)))
    assert status.ready and status.ways_on == ()
    assert status.detail == f"speech model {tiny_whisper_dir} ({tiny_whisper_dir})"


def test_no_model_on_disk_is_not_ready_and_names_the_ways_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    settings = settings_with(tmp_path)
    status = speech_status(settings)
    assert not status.ready and status.ways_on == WAYS_ON
    assert status.detail.startswith(
        f"no speech model is on this machine: 'small' has not been downloaded into {settings.asr_models_dir} "
        "(`opentr models pull small` fetches it;"
    )


def test_a_downloaded_model_is_found_in_the_models_directory(
    tmp_path: Path, tiny_whisper_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    settings = settings_with(tmp_path, opentr_asr_model="tiny")
    snapshot = cached_copy(settings.asr_models_dir, tiny_whisper_dir)
    assert speech_status(settings).ready and str(snapshot) in speech_status(settings).detail
    assert [(m.name, m.path) for m in speech_models(settings)] == [("Systran/faster-whisper-tiny", snapshot)]


@pytest.mark.parametrize(
    ("values", "ready", "detail"),
    [
        ({"opentr_asr_engine": "openai", "opentr_asr_remote_url": "http://asr.internal:8000/v1"}, True,
         "speech is transcribed by the server at http://asr.internal:8000/v1 (model whisper-1)"),
        ({"opentr_asr_engine": "openai"}, False, "OPENTR_ASR_ENGINE=openai, but OPENTR_ASR_REMOTE_URL is not set"),
        ({"opentr_asr_engine": "foo"}, False,
         "OPENTR_ASR_ENGINE='foo' is not a speech engine (one of faster-whisper, openai)"),
        ({"opentr_asr_model": "huge-v9"}, False, "unknown speech model 'huge-v9': expected a size name"),
    ],
)  # fmt: skip
def test_other_engines_and_settings(tmp_path: Path, values: dict[str, str], ready: bool, detail: str) -> None:
    settings = settings_with(tmp_path).model_copy(update=values)  # not validated: the states a status must survive
    status = speech_status(settings)
    assert status.ready is ready and status.detail.startswith(detail)


def test_a_folder_without_a_model_is_said_so(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    status = speech_status(settings_with(tmp_path, opentr_asr_model=str(tmp_path / "empty")))
    assert not status.ready and "holds no CTranslate2 model (no model.bin)" in status.detail


# --- the command line ---------------------------------------------------------------------------------------------


def opentr(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "OPENTR_"))}
    environment |= {"OPENTR_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1", **env}
    return subprocess.run(
        [sys.executable, "-m", "opentr_cli", *args], env=environment, text=True, capture_output=True, timeout=60
    )


def test_models_list_with_nothing_present(tmp_path: Path) -> None:
    result = opentr(tmp_path, "models", "list")
    assert result.returncode == 0, result.stderr
    models = tmp_path / "home" / "models"
    assert result.stdout.splitlines() == [
        "speech engine: faster-whisper (OPENTR_ASR_ENGINE)",
        f"  not ready: {speech_status(settings_with(tmp_path)).detail}",
        f"speech models on this machine (OPENTR_ASR_MODEL=small, models directory {models}):",
        "  none",
        "diarization models:",
        f"  segmentation  {models / 'diarization' / 'segmentation.onnx'}  missing",
        f"  embedding  {models / 'diarization' / 'embedding.onnx'}  missing",
        "  without them every file gets one speaker; get them with: opentr models pull diarization",
        "Transcription can run once one of these is done:",
        *(f"  - {way}" for way in WAYS_ON),
        "embedding model (OPENTR_EMBEDDING_MODEL=intfloat/multilingual-e5-small; pulled):",
        f"  {models / 'embedding' / 'intfloat--multilingual-e5-small'}  missing",
        "  without it search by meaning and questions are off (search by words works); get it with: "
        "opentr models pull embedding",
    ]


def test_models_list_with_the_tiny_models_present(
    tmp_path: Path, tiny_whisper_dir: Path, tiny_diarization_models: tuple[Path, Path], tiny_embedding_dir: Path
) -> None:
    segmentation, embedding = tiny_diarization_models
    cached = cached_copy(tmp_path / "home" / "models", tiny_whisper_dir)
    result = opentr(
        tmp_path,
        "models",
        "list",
        OPENTR_ASR_MODEL=str(tiny_whisper_dir),
        OPENTR_DIARIZATION_SEGMENTATION_MODEL=str(segmentation),
        OPENTR_DIARIZATION_EMBEDDING_MODEL=str(embedding),
        OPENTR_EMBEDDING_MODEL=str(tiny_embedding_dir),
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1] == f"  ready: speech model {tiny_whisper_dir} ({tiny_whisper_dir})"
    assert lines[3:5] == [f"  {tiny_whisper_dir}  {tiny_whisper_dir}", f"  Systran/faster-whisper-tiny  {cached}"]
    assert lines[5:] == [
        "diarization models:",
        f"  segmentation  {segmentation}  present",
        f"  embedding  {embedding}  present",
        f"embedding model (OPENTR_EMBEDDING_MODEL={tiny_embedding_dir}; a local directory):",
        f"  {tiny_embedding_dir}  present",
    ]


def test_opentr_dev_says_so_at_start(tmp_path: Path, empty_url: str, redis_url: str) -> None:
    extra = {}
    if os.environ.get("DATABASE_URL"):
        from repo import schema

        extra = {"DATABASE_URL": schema.to_url(empty_url), "REDIS_URL": redis_url}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "OPENTR_"))}
    environment |= {"OPENTR_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1", **extra}
    proc = subprocess.Popen(
        [sys.executable, "-m", "opentr_cli", "dev", "--port", str(port), "--no-worker"],
        env=environment,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    seen: list[str] = []
    logged: list[str] = []
    said = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line.rstrip("\n"))
            if line.startswith("  - ") and WAYS_ON[-1] in line:
                said.set()

    def drain() -> None:  # an unread stderr pipe that fills up would stop the server mid-start
        assert proc.stderr is not None
        logged.extend(line.rstrip("\n") for line in proc.stderr)

    readers = [threading.Thread(target=read, daemon=True), threading.Thread(target=drain, daemon=True)]
    for reader in readers:
        reader.start()
    try:
        assert said.wait(120), f"opentr dev printed: {seen}, logged: {logged[-40:]}"
    finally:
        proc.send_signal(2)
        proc.wait(60)
        for reader in readers:
            reader.join(10)
    start = next(i for i, line in enumerate(seen) if line.startswith("transcription cannot run yet: "))
    assert seen[start + 1 :][:4] == [
        "Recordings uploaded without a transcript file will fail until one of these is done:",
        *(f"  - {way}" for way in WAYS_ON),
    ]
    assert seen[start] == f"transcription cannot run yet: {speech_status(settings_with(tmp_path)).detail}."


def test_the_start_line_when_a_model_is_there(tmp_path: Path, tiny_whisper_dir: Path) -> None:
    settings = settings_with(tmp_path, opentr_asr_model=str(tiny_whisper_dir))
    assert availability.summary(settings) == f"transcription: speech model {tiny_whisper_dir} ({tiny_whisper_dir})"


# --- the upload page and /api/health --------------------------------------------------------------------------------

PANEL = "Transcription cannot run on this server yet"


def test_the_upload_page_says_so_before_anyone_uploads(client: Any, fresh_url: str) -> None:
    sign_up(client)
    page = client.get("/upload").text
    assert PANEL in page
    for way in WAYS_ON:
        assert f"<li>{way[:1].upper()}{way[1:]}.</li>" in page
    assert "has not been downloaded into" not in page, "where the server keeps models is for administrators"
    assert client.get("/api/health").json()["transcription"] == "unavailable"

    make_admin(fresh_url, {}, client)
    assert "has not been downloaded into" in client.get("/upload").text


def test_with_a_model_the_upload_page_is_quiet_and_health_says_ready(
    client: Any, app_settings: Settings, tiny_whisper_dir: Path
) -> None:
    services = client.app.state.services
    services.settings = app_settings.model_copy(update={"opentr_asr_model": str(tiny_whisper_dir)})
    sign_up(client)
    assert PANEL not in client.get("/upload").text
    assert client.get("/api/health").json()["transcription"] == "ready"
