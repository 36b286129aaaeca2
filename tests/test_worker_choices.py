"""A file's processing choices reach the engines (workers/transcription.py, asr/): the model, language, task and
vocabulary a real `opentr worker` sends to a stand-in OpenAI-compatible server, what faster-whisper is asked on the
tiny model, diarization turned off per file, and a re-run of diarization that keeps the text. Structure is asserted,
never accuracy."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from redis import Redis

from asr.types import SAMPLE_RATE
from asr.whisper import WhisperConfig, WhisperEngine
from config.settings import Settings
from jobs.transcription import enqueue_processing, queue_processing
from repo.diarization import DiarizationRepository
from repo.llm_configs import LlmConfigRepository
from repo.processing_choices import ProcessingChoicesRepository
from repo.user_settings import SettingsRepository
from tests import factories
from tests.llm_servers import LocalServer, Received, Reply, in_turn, openai_answer, serving
from tests.test_asr_remote import nested_words, upload_of
from tests.test_worker_summaries import BLUF
from tests.tiny_diarization import SAMPLE_RATE as DIARIZATION_RATE
from tests.tiny_diarization import alternating
from tests.web import actor_of, register
from tests.workers_support import WorkerEnv, pcm_wav
from transcript.choices import Choices
from transcript.speakers import SpeakerHints

pytestmark = pytest.mark.slow
VOCABULARY = "Müller, 東京, الرياض, 🚀"


@pytest.fixture
def workers(fresh_url: str, redis_url: str, tmp_path: Path) -> Iterator[WorkerEnv]:
    Redis.from_url(redis_url).flushdb()
    yield WorkerEnv(fresh_url, redis_url, tmp_path / "home")
    Redis.from_url(redis_url).flushdb()


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with serving() as start:
        yield start(nested_words)


def remote(server: LocalServer) -> dict[str, str]:
    return {
        "OPENTR_ASR_ENGINE": "openai",
        "OPENTR_ASR_REMOTE_URL": server.url,
        "OPENTR_ASR_REMOTE_MODEL": "whisper-configured",
        "OPENTR_DIARIZATION": "auto",
        "OPENTR_PROGRESS_SECONDS": "0.1",
    }


def tone(seconds: float = 2.0, rate: int = 8000) -> bytes:
    return pcm_wav(0.3 * np.sin(2 * np.pi * 300 * np.arange(int(seconds * rate)) / rate), rate)


def choose(workers: WorkerEnv, file_id: int, choices: Choices, stage: str | None = None) -> None:
    with psycopg.connect(workers.conninfo, autocommit=True) as conn:
        ProcessingChoicesRepository(conn).store(file_id, choices, stage)  # type: ignore[arg-type]


def file_row(workers: WorkerEnv, file_id: int) -> tuple[Any, ...]:
    [row] = workers.query("SELECT status, diarization FROM media_files WHERE id = %s", file_id)
    return tuple(row)


def test_the_remote_engine_receives_the_files_model_language_and_vocabulary(
    workers: WorkerEnv, server: LocalServer
) -> None:
    arranged = workers.arrange(tone(), None)
    choose(workers, arranged.file_id, Choices(model="whisper-chosen", language="de", vocabulary=VOCABULARY))
    result = workers.run_burst(timeout=120, **remote(server))
    assert result.returncode == 0, result.stderr[-3000:]
    (request,) = server.requests
    assert request.path == "/v1/audio/transcriptions"
    fields = upload_of(request).fields
    assert (fields["model"], fields["language"], fields["prompt"]) == (["whisper-chosen"], ["de"], [VOCABULARY])
    assert file_row(workers, arranged.file_id)[0] == "completed"


def test_translation_goes_to_the_translation_route_and_diarization_can_be_turned_off(
    workers: WorkerEnv, server: LocalServer
) -> None:
    arranged = workers.arrange(tone(), None)
    choose(workers, arranged.file_id, Choices(language="ja", task="translate", diarization=False))
    result = workers.run_burst(timeout=120, **remote(server))
    assert result.returncode == 0, result.stderr[-3000:]
    (request,) = server.requests
    assert request.path == "/v1/audio/translations"
    fields = upload_of(request).fields
    assert fields["model"] == ["whisper-configured"] and "language" not in fields and "prompt" not in fields
    assert file_row(workers, arranged.file_id) == ("completed", "off")


def test_a_rerun_of_diarization_keeps_the_text_and_asks_the_engine_nothing(
    workers: WorkerEnv, server: LocalServer
) -> None:
    arranged = workers.arrange(tone(), None)
    choose(workers, arranged.file_id, Choices(diarization=False))
    assert workers.run_burst(timeout=120, **remote(server)).returncode == 0
    before = workers.query(
        "SELECT start_time, end_time, text FROM transcript_segments WHERE media_file_id = %s ORDER BY start_time",
        arranged.file_id,
    )
    assert before
    with psycopg.connect(workers.conninfo, autocommit=True) as conn:
        conn.execute(
            "UPDATE transcript_segments SET text = 'Grüß Gott 🚀' WHERE media_file_id = %s", [arranged.file_id]
        )
    with psycopg.connect(workers.conninfo) as conn, conn.transaction():
        conn.execute("UPDATE media_files SET status = 'pending' WHERE id = %s", [arranged.file_id])
        ProcessingChoicesRepository(conn).store(arranged.file_id, Choices(diarization=True), "diarization")
        task_id = queue_processing(conn, arranged.file_id, arranged.owner.id)
    enqueue_processing(Redis.from_url(workers.redis_url), arranged.file_id, task_id)
    result = workers.run_burst(timeout=120, **remote(server))
    assert result.returncode == 0, result.stderr[-3000:]
    after = workers.query(
        "SELECT start_time, end_time, text FROM transcript_segments WHERE media_file_id = %s ORDER BY start_time",
        arranged.file_id,
    )
    assert [(s, e) for s, e, _ in after] == [(s, e) for s, e, _ in before]
    assert {text for _, _, text in after} == {"Grüß Gott 🚀"}, "the corrected text is kept"
    assert len(server.requests) == 1, "the engine was not asked again"
    assert file_row(workers, arranged.file_id) == ("completed", "models_missing")
    assert workers.query("SELECT rerun_stage FROM processing_choices WHERE media_file_id = %s", arranged.file_id) == [
        (None,)
    ]


def test_faster_whisper_is_asked_for_the_language_task_and_vocabulary(
    tiny_multilingual_whisper_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="opentr.asr.whisper")
    config = WhisperConfig(
        model=str(tiny_multilingual_whisper_dir), device="cpu", beam_size=1, vad=False, temperatures=(0.0,)
    )
    t = np.arange(int(3.0 * SAMPLE_RATE)) / SAMPLE_RATE
    audio = (0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)
    transcription = WhisperEngine(config).transcribe(
        iter([audio]),
        total_seconds=3.0,
        language="de",
        on_progress=lambda _: None,
        should_stop=lambda: False,
        task="translate",
        vocabulary=VOCABULARY,
    )
    segments = list(transcription.segments)
    assert transcription.language == "de" and transcription.language_probability is None
    assert all(0 <= s.start_time <= s.end_time for s in segments)
    asked = [r.args for r in caplog.records if r.msg == "decoding options: %s"]
    assert asked == [{"language": "de", "task": "translate", "hotwords": VOCABULARY}]


def spoken_words(request: Received) -> Reply:
    """One segment over the piece with a timed word every second, so diarization's turns can split it."""
    seconds = upload_of(request).seconds
    words = [{"word": f" Wort{i}", "start": i + 0.2, "end": i + 0.8} for i in range(int(seconds))]
    return Reply(body={"language": "de", "segments": [{"start": 0.0, "end": seconds, "text": "", "words": words}]})


def test_the_files_speaker_count_reaches_diarization_and_a_rerun_changes_it(
    workers: WorkerEnv, tiny_diarization_models: tuple[Path, Path]
) -> None:
    segmentation, embedding = tiny_diarization_models
    models = {
        "OPENTR_DIARIZATION_SEGMENTATION_MODEL": str(segmentation),
        "OPENTR_DIARIZATION_EMBEDDING_MODEL": str(embedding),
    }
    with serving() as start:
        server = start(spoken_words)
        env = {**remote(server), **models}
        arranged = workers.arrange(pcm_wav(alternating(), DIARIZATION_RATE), None)
        choose(workers, arranged.file_id, Choices())
        assert workers.run_burst(timeout=120, **env).returncode == 0
        first = workers.query("SELECT count(*) FROM speakers WHERE media_file_id = %s", arranged.file_id)
        text = workers.query(
            "SELECT string_agg(text, ' ' ORDER BY start_time) FROM transcript_segments WHERE media_file_id = %s",
            arranged.file_id,
        )
        with psycopg.connect(workers.conninfo) as conn, conn.transaction():
            conn.execute("UPDATE media_files SET status = 'pending' WHERE id = %s", [arranged.file_id])
            DiarizationRepository(conn).set_hints(arranged.file_id, SpeakerHints(num_speakers=1))
            ProcessingChoicesRepository(conn).store(arranged.file_id, Choices(), "diarization")
            task_id = queue_processing(conn, arranged.file_id, arranged.owner.id)
        enqueue_processing(Redis.from_url(workers.redis_url), arranged.file_id, task_id)
        result = workers.run_burst(timeout=120, **env)
        assert result.returncode == 0, result.stderr[-3000:]
    assert first == [(2,)], "two voices without a hint"
    assert workers.query("SELECT count(*) FROM speakers WHERE media_file_id = %s", arranged.file_id) == [(1,)]
    assert file_row(workers, arranged.file_id) == ("completed", "diarized")
    again = workers.query(
        "SELECT string_agg(text, ' ' ORDER BY start_time) FROM transcript_segments WHERE media_file_id = %s",
        arranged.file_id,
    )
    assert again == text and len(server.requests) == 1


def test_a_file_stored_without_choices_follows_its_owners_defaults(workers: WorkerEnv, server: LocalServer) -> None:
    """A URL import, or a file from before the choices were stored: the owner's settings at the time it runs."""
    arranged = workers.arrange(tone(), None)
    with psycopg.connect(workers.conninfo, autocommit=True) as conn:
        settings = SettingsRepository(conn)
        settings.set(arranged.owner, "transcription.vocabulary", VOCABULARY)
        settings.set(arranged.owner, "transcription.language", "Japanese")
        settings.set(arranged.owner, "diarization.enabled", False)
    result = workers.run_burst(timeout=120, **remote(server))
    assert result.returncode == 0, result.stderr[-3000:]
    (request,) = server.requests
    fields = upload_of(request).fields
    assert (fields["model"], fields["language"], fields["prompt"]) == (["whisper-configured"], ["ja"], [VOCABULARY])
    assert file_row(workers, arranged.file_id) == ("completed", "off")
    assert workers.query("SELECT count(*) FROM processing_choices") == [(0,)]


def test_a_rerun_of_the_summary_writes_one_and_leaves_the_transcript_untouched(
    app_settings: Settings, workers: WorkerEnv
) -> None:
    from starlette.testclient import TestClient

    from web.app import create_app

    settings = app_settings.model_copy(update={"redis_url": workers.redis_url, "opentr_home": workers.home})
    with serving() as start, TestClient(create_app(settings)) as client:
        llm = start(in_turn(Reply(body=openai_answer(json.dumps(BLUF)))))
        headers = register(client)
        owner = actor_of(client, workers.conninfo, headers)
        with psycopg.connect(workers.conninfo, autocommit=True) as conn:
            file_id, file_uuid = factories.media_file(conn, owner, status="completed")
            speaker = factories.speaker(conn, owner, file_id)
            factories.segments(conn, file_id, ["Grüß Gott 🚀", "東京で会いましょう", "مرحبا"], speaker)
            configs = LlmConfigRepository(conn, settings.secret_key())
            config = configs.create(owner, "local", "openai", "chat-1", base_url=f"{llm.url}/v1", api_key="k")
            configs.activate(owner, config.uuid)
        before = workers.query("SELECT id, text, speaker_id FROM transcript_segments ORDER BY id")
        response = client.post(f"/api/files/{file_uuid}/rerun", headers=headers, json={"stage": "summary"})
        assert response.status_code == 202, response.text
        result = workers.run_burst(timeout=120)
        assert result.returncode == 0, result.stderr[-3000:]
        summaries = client.get(f"/api/files/{file_uuid}/summaries", headers=headers).json()
    assert [s["status"] for s in summaries] == ["completed"] and summaries[0]["bluf"] == BLUF["bluf"]
    assert workers.query("SELECT id, text, speaker_id FROM transcript_segments ORDER BY id") == before
    assert workers.query("SELECT status FROM media_files") == [("completed",)]
    assert len(llm.requests) == 1
