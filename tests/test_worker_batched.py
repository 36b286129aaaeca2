"""A real `opentr worker` transcribing through faster-whisper's batched pipeline because the settings say so
(OPENTR_ASR_BATCHED=on, OPENTR_ASR_BATCH_SIZE), on a tiny random-weight model: the file completes with a transcript
that has word timings, as with the sequential path. Structure, never text."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from redis import Redis

from tests.synthetic_voice import silence, voice
from tests.test_asr_batched import TEXT_WITHOUT_TIMESTAMPS_SEED
from tests.tiny_whisper import build_tiny_whisper
from tests.workers_support import WorkerEnv, pcm_wav

pytestmark = pytest.mark.slow


@pytest.fixture
def workers(fresh_url: str, redis_url: str, tmp_path: Path) -> Iterator[WorkerEnv]:
    Redis.from_url(redis_url).flushdb()
    yield WorkerEnv(fresh_url, redis_url, tmp_path / "home")
    Redis.from_url(redis_url).flushdb()


def test_a_worker_told_to_batch_transcribes_an_upload_with_word_timings(workers: WorkerEnv, tmp_path: Path) -> None:
    model = build_tiny_whisper(tmp_path / "model", seed=TEXT_WITHOUT_TIMESTAMPS_SEED)
    audio = np.concatenate([voice(20.0, 1), silence(4.0), voice(20.0, 2), silence(4.0), voice(20.0, 3)])
    arranged = workers.arrange(pcm_wav(audio, rate=16000), None, name="Gespräch über 東京 🎙.wav")

    done = workers.run_burst(
        timeout=300,
        OPENTR_ASR_ENGINE="faster-whisper",
        OPENTR_ASR_MODEL=str(model),
        OPENTR_ASR_DEVICE="cpu",
        OPENTR_ASR_BATCHED="on",
        OPENTR_ASR_BATCH_SIZE="2",
        OPENTR_ASR_BEAM_SIZE="1",
        HF_HUB_OFFLINE="1",
    )

    assert done.returncode == 0, done.stderr[-3000:]
    assert "(batched, 2 chunks at a time)" in done.stderr
    [(status, error)] = workers.query(
        "SELECT status, last_error_message FROM media_files WHERE id = %s", arranged.file_id
    )
    assert (status, error) == ("completed", None)
    rows = workers.query(
        "SELECT s.start_time, s.end_time, w.words::text FROM transcript_segments s"
        " LEFT JOIN segment_words w ON w.segment_id = s.id WHERE s.media_file_id = %s ORDER BY s.start_time",
        arranged.file_id,
    )
    assert rows and all(0 <= start <= end <= 68.0 for start, end, _ in rows)
    assert any(words for _, _, words in rows), "the batched path times words too"
