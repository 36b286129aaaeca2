"""Choosing and configuring a speech engine from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from asr import speech_engine
from asr.errors import TranscriptionError
from asr.remote import RemoteEngine
from asr.whisper import WhisperEngine
from config.settings import ConfigError, Settings, load_settings

pytestmark = pytest.mark.same_on_every_server  # reaches no server DATABASE_URL / REDIS_URL name (see conftest)


def test_faster_whisper_is_configured_from_the_settings(tmp_path: Path) -> None:
    settings = Settings(
        opentr_home=tmp_path,
        opentr_asr_engine="Faster-Whisper",
        opentr_asr_model="large-v3",
        opentr_asr_device="cpu",
        opentr_asr_beam_size=2,
        opentr_asr_vad=False,
    )
    engine = speech_engine(settings)

    assert isinstance(engine, WhisperEngine)
    assert (engine.config.model, engine.config.device, engine.config.compute_type) == ("large-v3", "cpu", None)
    assert (engine.config.beam_size, engine.config.vad) == (2, False)
    assert engine.config.models_dir == tmp_path / "models"


def test_the_remote_engine_needs_a_url_and_keeps_the_key_out_of_reprs(tmp_path: Path) -> None:
    with pytest.raises(TranscriptionError, match="OPENTR_ASR_REMOTE_URL is required when OPENTR_ASR_ENGINE=openai"):
        speech_engine(Settings(opentr_home=tmp_path, opentr_asr_engine="openai"))

    settings = Settings(
        opentr_home=tmp_path,
        opentr_asr_engine="openai",
        opentr_asr_remote_url="https://asr.example.org/v1/",
        opentr_asr_remote_key=SecretStr("sk-secret-123"),
        opentr_asr_remote_max_upload_mb=0.5,
    )
    engine = speech_engine(settings)
    assert isinstance(engine, RemoteEngine)
    assert engine.config.endpoint == "https://asr.example.org/v1/audio/transcriptions"
    assert engine.config.max_upload_bytes == 512 * 1024 and engine.config.api_key == "sk-secret-123"
    assert "sk-secret-123" not in repr(engine.config) + repr(settings)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("OPENTR_ASR_ENGINE", "whisperx", "OPENTR_ASR_ENGINE: Value error, expected one of faster-whisper, openai"),
        ("OPENTR_ASR_ENGINE", "openai", "OPENTR_ASR_REMOTE_URL: required when OPENTR_ASR_ENGINE=openai"),
        ("OPENTR_ASR_DEVICE", "tpu", "OPENTR_ASR_DEVICE: Input should be 'auto', 'cpu' or 'cuda'"),
        ("OPENTR_ASR_COMPUTE_TYPE", "int4", "OPENTR_ASR_COMPUTE_TYPE: Input should be 'default', 'auto'"),
        ("OPENTR_ASR_BEAM_SIZE", "0", "OPENTR_ASR_BEAM_SIZE: Input should be greater than or equal to 1"),
        ("OPENTR_ASR_VAD", "maybe", "OPENTR_ASR_VAD: Input should be a valid boolean"),
        ("OPENTR_ASR_MODEL", "", "OPENTR_ASR_MODEL: String should have at least 1 character"),
        ("OPENTR_ASR_REMOTE_URL", "ftp://x", "OPENTR_ASR_REMOTE_URL: Value error, must be an http:// or https:// URL"),
        ("OPENTR_ASR_REMOTE_MAX_UPLOAD_MB", "0", "OPENTR_ASR_REMOTE_MAX_UPLOAD_MB: Input should be greater than 0"),
    ],
)
def test_bad_asr_settings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()

    assert str(caught.value).startswith(expected)


@pytest.mark.parametrize(("value", "expected"), [("on", True), ("off", False), ("1", True), ("false", False)])
def test_vad_reads_on_and_off(monkeypatch: pytest.MonkeyPatch, value: str, expected: bool) -> None:
    monkeypatch.setenv("OPENTR_ASR_VAD", value)

    assert load_settings().opentr_asr_vad is expected
