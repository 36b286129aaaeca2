"""Step 9: uploads without a transcript are transcribed by the real faster-whisper engine, on a tiny random-weight
model built offline (tests/tiny_whisper.py), through a real `opentr worker`. Structure is asserted, never text."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from redis import Redis

from config.settings import Settings
from repo.notifications import NotificationRepository
from tests import media_fixtures
from tests.fault_support import wait_until
from tests.test_journey import Listener, _user_id, _wait_listening
from tests.web import register
from tests.workers_support import WorkerEnv, kill_group, pcm_wav

pytestmark = pytest.mark.slow


@pytest.fixture
def workers(fresh_url: str, redis_url: str, tmp_path: Path) -> Iterator[WorkerEnv]:
    Redis.from_url(redis_url).flushdb()
    yield WorkerEnv(fresh_url, redis_url, tmp_path / "home")
    Redis.from_url(redis_url).flushdb()


@pytest.fixture
def engine(tiny_whisper_dir: Path) -> dict[str, str]:
    """The real engine on the tiny model: CPU, greedy, no VAD (it drops synthetic audio), no temperature fallback
    (random weights would trigger it on every window), progress written often enough to be seen."""
    return {
        "OPENTR_ASR_ENGINE": "faster-whisper",
        "OPENTR_ASR_MODEL": str(tiny_whisper_dir),
        "OPENTR_ASR_DEVICE": "cpu",
        "OPENTR_ASR_BEAM_SIZE": "1",
        "OPENTR_ASR_VAD": "off",
        "OPENTR_ASR_TEMPERATURE_FALLBACK": "off",
        "OPENTR_PROGRESS_SECONDS": "0.1",
        "HF_HUB_OFFLINE": "1",
    }


def recording(tmp_path: Path, name: str, seconds: float) -> bytes:
    sample = media_fixtures.BY_NAME[name]
    return media_fixtures.encode(tmp_path / f"{seconds:g}-{name}", sample, seconds=seconds).read_bytes()


def file_state(workers: WorkerEnv, file_id: int) -> dict[str, Any]:
    with psycopg.connect(workers.conninfo) as conn:
        cursor = conn.execute(
            "SELECT status, progress, language, language_probability, last_error_message, recovery_attempts,"
            " (SELECT count(*) FROM transcript_segments s WHERE s.media_file_id = m.id) AS segments,"
            " (SELECT count(*) FROM transcript_staging st JOIN tasks t ON t.id = st.task_id"
            "   WHERE t.media_file_id = m.id) AS staged"
            " FROM media_files m WHERE id = %s",
            [file_id],
        )
        names = [c.name for c in cursor.description or []]
        row = cursor.fetchone()
    assert row is not None
    return dict(zip(names, row, strict=True))


def test_an_upload_without_transcript_is_transcribed_with_live_progress(
    app_settings: Settings, workers: WorkerEnv, engine: dict[str, str], tmp_path: Path
) -> None:
    from starlette.testclient import TestClient

    from web.app import create_app

    settings = app_settings.model_copy(update={"redis_url": workers.redis_url})
    with TestClient(create_app(settings)) as client:
        email = f"asr-{secrets.token_hex(3)}@example.com"
        headers = register(client, email)
        user_id = _user_id(workers.conninfo, email)
        _wait_listening(client)
        end = "end of the test"
        with client.websocket_connect(f"/api/ws/notifications?token={headers['Authorization'].split()[1]}") as ws:
            listener = Listener(ws, end)
            files = {"file": ("talk.mp3", recording(tmp_path, "talk.mp3", 40.0), "audio/mpeg")}
            uploaded = client.post("/api/files", headers=headers, files=files)
            assert uploaded.status_code == 201, uploaded.text
            # progress written at most every 10 ms: the tiny model is quick, and a step announced live (not stored)
            # costs little, so with 0.1 s the 40 s recording could pass between two reports
            result = workers.run_burst(timeout=300, **{**engine, "OPENTR_PROGRESS_SECONDS": "0.01"})
            assert result.returncode == 0, result.stderr[-3000:]
            with psycopg.connect(workers.conninfo, autocommit=True) as conn:
                NotificationRepository(conn).notify(user_id, "system", end)
            listener.join(60)
            received = listener.steps
        uuid = uploaded.json()["uuid"]
        detail = client.get(f"/api/files/{uuid}", headers=headers).json()
        transcript = client.get(f"/api/files/{uuid}/transcript", headers=headers).json()
    assert detail["status"] == "completed", detail
    assert transcript, "the engine produced segments"
    starts = [s["start_time"] for s in transcript]
    assert starts == sorted(starts) and all(s["end_time"] >= s["start_time"] >= 0 for s in transcript)
    assert {s["speaker_label"] for s in transcript} == {"SPEAKER_00"}, "no diarization yet: one speaker"
    words = [w for s in transcript for w in (s["words"] or [])]
    assert words and all(w["end"] >= w["start"] >= 0 and isinstance(w["word"], str) for w in words)
    with psycopg.connect(workers.conninfo) as conn:
        [(language, probability)] = conn.execute(
            "SELECT language, language_probability FROM media_files WHERE uuid = %s", [uuid]
        ).fetchall()
    assert language == "en" and 0.0 < probability <= 1.0, "an English-only model detects English"
    outcomes = [(n["kind"], n["title"]) for n in listener.received if n["file_uuid"] == uuid]
    assert outcomes == [("transcription", "talk.mp3: transcript ready")], "one notification; the steps went live"
    progress = [n["progress"] for n in received if n.get("file_uuid") == uuid and n["progress"] is not None]
    assert progress == sorted(set(progress)), f"strictly increasing: {progress}"
    during = [p for p in progress if 0.35 < p < 0.85]
    assert len(during) >= 2, f"the WebSocket shows transcription progress, not just the steps: {progress}"
    assert progress[-1] < 1.0 and [n["progress"] for n in listener.received if n["file_uuid"] == uuid] == [1.0]


def test_a_cancel_during_transcription_stops_the_engine_and_leaves_no_segments(
    workers: WorkerEnv, engine: dict[str, str], tmp_path: Path
) -> None:
    arranged = workers.arrange(recording(tmp_path, "tone.wav", 600.0), None, name="long.wav")
    worker = workers.start(**engine)
    try:
        wait_until(lambda: file_state(workers, arranged.file_id)["progress"] > 0.36, 120, "transcription to run")
        with psycopg.connect(workers.conninfo, autocommit=True) as conn:
            conn.execute(
                "UPDATE media_files SET cancellation_requested = true, status = 'cancelling' WHERE id = %s",
                [arranged.file_id],
            )
        assert worker.wait(timeout=60) == 0
    finally:
        if worker.poll() is None:
            kill_group(worker)
    state = file_state(workers, arranged.file_id)
    assert (state["status"], state["segments"], state["staged"]) == ("cancelled", 0, 0)
    assert state["progress"] < 0.85, "stopped inside the transcription, not after it"
    assert workers.query("SELECT status FROM tasks WHERE media_file_id = %s", arranged.file_id) == [("cancelled",)]


def test_sigkill_during_transcription_is_recovered_with_exactly_one_transcript(
    workers: WorkerEnv, engine: dict[str, str], tmp_path: Path
) -> None:
    arranged = workers.arrange(recording(tmp_path, "tone.wav", 120.0), None, name="killed.wav")
    log = tmp_path / "worker.log"
    victim = workers.serve(log, **engine)
    try:
        wait_until(lambda: file_state(workers, arranged.file_id)["staged"] > 0, 120, "segments to be staged")
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(timeout=10)
        assert file_state(workers, arranged.file_id)["segments"] == 0, "nothing partial is visible"
        restarted: subprocess.Popen[str] = workers.serve(log, **engine)
        try:
            wait_until(
                lambda: file_state(workers, arranged.file_id)["status"] == "completed", 240, "the file to complete"
            )
        finally:
            kill_group(restarted)
    finally:
        if victim.poll() is None:
            kill_group(victim)
    state = file_state(workers, arranged.file_id)
    assert state["recovery_attempts"] == 1 and state["segments"] > 0 and state["staged"] == 0, state
    runs = "SELECT status FROM tasks WHERE media_file_id = %s AND task_type = 'transcription' ORDER BY created_at"
    assert workers.query(runs, arranged.file_id) == [
        ("failed",),
        ("completed",),
    ]
    duplicates = workers.query(
        "SELECT count(*) - count(DISTINCT (start_time, end_time, text)) FROM transcript_segments"
        " WHERE media_file_id = %s",
        arranged.file_id,
    )
    assert duplicates == [(0,)]


def test_the_upload_language_is_used_and_not_called_detected(
    workers: WorkerEnv, engine: dict[str, str], tmp_path: Path
) -> None:
    arranged = workers.arrange(recording(tmp_path, "tone.wav", 5.0), None, name="given.wav")
    with psycopg.connect(workers.conninfo, autocommit=True) as conn:
        conn.execute("UPDATE media_files SET language = 'en' WHERE id = %s", [arranged.file_id])
    assert workers.run_burst(timeout=180, **engine).returncode == 0
    state = file_state(workers, arranged.file_id)
    assert (state["status"], state["language"], state["language_probability"]) == ("completed", "en", None)


def test_two_voices_are_diarized_and_the_transcript_split_between_them(
    workers: WorkerEnv, engine: dict[str, str], tiny_diarization_models: tuple[Path, Path]
) -> None:
    """The real engine and the real sherpa-onnx diarization on tiny models: two alternating 'voices' (tones) make
    two speakers, every segment carries one of their labels, and the file says it was diarized."""
    from tests.tiny_diarization import alternating

    # Short turns: the random model's segments fall where its weights and the libraries' versions put them, and with
    # 3 s turns today's ctranslate2 / faster-whisper put every one on the second voice's turns, leaving the first
    # voice's speaker without a segment. 1.5 s turns make each segment of a few seconds meet both voices.

    segmentation, embedding = tiny_diarization_models
    arranged = workers.arrange(pcm_wav(alternating(turns=12, seconds=1.5), 16_000), None, name="dialogue.wav")
    env = {
        **engine,
        "OPENTR_DIARIZATION": "auto",
        "OPENTR_DIARIZATION_SEGMENTATION_MODEL": str(segmentation),
        "OPENTR_DIARIZATION_EMBEDDING_MODEL": str(embedding),
    }
    assert workers.run_burst(timeout=180, **env).returncode == 0
    [(status, outcome)] = workers.query("SELECT status, diarization FROM media_files WHERE id = %s", arranged.file_id)
    assert (status, outcome) == ("completed", "diarized")
    speakers = workers.query(
        "SELECT label, embedding IS NOT NULL FROM speakers WHERE media_file_id = %s ORDER BY label", arranged.file_id
    )
    assert [label for label, _ in speakers] == ["SPEAKER_00", "SPEAKER_01"] and all(v for _, v in speakers)
    labels = workers.query(
        "SELECT DISTINCT sp.label FROM transcript_segments s JOIN speakers sp ON sp.id = s.speaker_id"
        " WHERE s.media_file_id = %s",
        arranged.file_id,
    )
    assert labels and {label for (label,) in labels} <= {"SPEAKER_00", "SPEAKER_01"}
    assert workers.query(
        "SELECT count(*) FROM transcript_segments WHERE media_file_id = %s AND speaker_id IS NULL", arranged.file_id
    ) == [(0,)]


def test_without_diarization_models_one_speaker_and_the_file_says_why(
    workers: WorkerEnv, engine: dict[str, str], tmp_path: Path
) -> None:
    arranged = workers.arrange(recording(tmp_path, "tone.wav", 5.0), None, name="alone.wav")
    assert workers.run_burst(timeout=180, **engine).returncode == 0
    [(status, outcome)] = workers.query("SELECT status, diarization FROM media_files WHERE id = %s", arranged.file_id)
    assert (status, outcome) == ("completed", "models_missing")
    [(kind, title, message)] = workers.query(  # one notification, saying why there is one speaker
        "SELECT kind, title, message FROM notifications WHERE media_file_id = %s", arranged.file_id
    )
    assert (kind, title) == ("transcription", "alone.wav: transcript ready")
    assert "models are missing" in message and "opentr models pull diarization" in message
