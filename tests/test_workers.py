from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from redis import Redis

from tests.workers_support import WorkerEnv, kill_group, many_cues, srt, wav, whisperx

VTT = b"""WEBVTT

00:00:00.000 --> 00:00:01.000
<v SPEAKER_00>Good morning everyone

00:00:01.000 --> 00:00:02.500
<v SPEAKER_01>Morning, shall we start?

00:00:02.500 --> 00:00:03.000
<v SPEAKER_00>Yes
"""


@pytest.fixture
def workers(fresh_url: str, redis_url: str, tmp_path: Path) -> Iterator[WorkerEnv]:
    Redis.from_url(redis_url).flushdb()  # only this test's jobs for the burst worker to find
    yield WorkerEnv(fresh_url, redis_url, tmp_path / "home")
    Redis.from_url(redis_url).flushdb()


def test_srt_pipeline_end_to_end(workers: WorkerEnv) -> None:
    cues = [
        (0.0, 1.5, "SPEAKER_00", "Hello and welcome"),
        (1.5, 4.0, "SPEAKER_01", "Thanks for having me"),
        (4.0, 5.0, "SPEAKER_00", "Let us begin"),
    ]
    job = workers.arrange(wav(5.0), srt(cues))
    result = workers.run_burst()
    assert result.returncode == 0, result.stderr[-2000:]
    assert workers.query(
        "SELECT status, progress, duration, audio_sample_rate, waveform_data IS NOT NULL "
        "FROM media_files WHERE id = %s",
        job.file_id,
    ) == [("completed", 1.0, 5.0, 8000, True)]
    segments = workers.query(
        "SELECT s.start_time, s.end_time, sp.label, s.text FROM transcript_segments s "
        "JOIN speakers sp ON sp.id = s.speaker_id WHERE s.media_file_id = %s ORDER BY s.start_time",
        job.file_id,
    )
    assert segments == [(a, b, who, text) for a, b, who, text in cues]
    stats = workers.query("SELECT speaker_stats FROM analytics WHERE media_file_id = %s", job.file_id)[0][0]
    assert stats == {
        "SPEAKER_00": {"talk_time": 2.5, "words": 6, "turns": 2},
        "SPEAKER_01": {"talk_time": 2.5, "words": 4, "turns": 1},
    }
    assert workers.query("SELECT status FROM tasks WHERE id = %s", job.task_id) == [("completed",)]
    notes = workers.query("SELECT kind, title FROM notifications WHERE media_file_id = %s ORDER BY id", job.file_id)
    assert notes == [("transcription", "talk.wav: transcript ready")], "one notification: the outcome, not the steps"


def test_vtt_and_whisperx_pipelines(workers: WorkerEnv) -> None:
    vtt_job = workers.arrange(wav(3.0), VTT)
    words = [{"word": "Hi", "start": 0.1, "end": 0.4, "score": 0.9}, {"word": "there", "start": 0.5, "end": 0.9}]
    wx_job = workers.arrange(
        wav(2.0),
        whisperx(
            [
                {"start": 0.1, "end": 0.9, "text": " Hi there", "speaker": "SPEAKER_02", "words": words},
                {"start": 1.0, "end": 1.8, "text": "General Kenobi", "speaker": "SPEAKER_03"},
            ]
        ),
    )
    assert workers.run_burst().returncode == 0
    assert workers.query(
        "SELECT text FROM transcript_segments WHERE media_file_id = %s ORDER BY start_time", vtt_job.file_id
    ) == [("Good morning everyone",), ("Morning, shall we start?",), ("Yes",)]
    rows = workers.query(
        "SELECT s.text, w.words, sp.label FROM transcript_segments s JOIN speakers sp "
        "ON sp.id = s.speaker_id LEFT JOIN segment_words w ON w.segment_id = s.id "
        "WHERE s.media_file_id = %s ORDER BY s.start_time",
        wx_job.file_id,
    )
    assert [(text, label) for text, _, label in rows] == [("Hi there", "SPEAKER_02"), ("General Kenobi", "SPEAKER_03")]
    assert [w["word"] for w in rows[0][1]] == ["Hi", "there"] and rows[1][1] is None
    assert workers.query("SELECT count(*) FROM speakers WHERE media_file_id = %s", vtt_job.file_id) == [(2,)]


def test_without_a_sidecar_a_missing_speech_model_fails_naming_it_and_the_command(workers: WorkerEnv) -> None:
    """No transcript uploaded, so the default engine must listen; its model was never downloaded and this machine
    cannot fetch it: the file says which model and how to get it."""
    job = workers.arrange(wav(1.0), None)
    assert workers.run_burst(HF_HUB_OFFLINE="1").returncode == 0
    status, message, category = workers.query(
        "SELECT status, last_error_message, error_category FROM media_files WHERE id = %s", job.file_id
    )[0]
    assert status == "error" and category == "transcription"
    assert "speech model 'small' is not available" in message and message.endswith("opentr models pull small")
    assert workers.query("SELECT status, error_message FROM tasks WHERE id = %s", job.task_id) == [("failed", message)]
    assert workers.query("SELECT kind, title FROM notifications WHERE media_file_id = %s", job.file_id) == [
        ("error", "talk.wav: processing failed")
    ], "one notification: the failure"


def test_a_malformed_sidecar_fails_naming_the_cue(workers: WorkerEnv) -> None:
    job = workers.arrange(wav(1.0), b"1\n00:00:05,000 --> 00:00:01,000\nbackwards\n")
    assert workers.run_burst().returncode == 0
    status, message = workers.query("SELECT status, last_error_message FROM media_files WHERE id = %s", job.file_id)[0]
    assert status == "error" and "cue 1" in message


def _wait_for(workers: WorkerEnv, file_id: int, predicate: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not workers.query(f"SELECT 1 FROM media_files WHERE id = %s AND {predicate}", file_id):
        assert time.monotonic() < deadline, f"file never reached: {predicate}"
        time.sleep(0.02)


def test_worker_killed_mid_job_then_recovered_leaves_exactly_one_transcript(workers: WorkerEnv) -> None:
    cues = many_cues(40_000)
    job = workers.arrange(wav(2.0), srt(cues))
    worker = workers.start()
    try:
        _wait_for(workers, job.file_id, "progress >= 0.3")  # metadata and waveform done, transcript underway
    finally:
        kill_group(worker)
    assert workers.query("SELECT status FROM media_files WHERE id = %s", job.file_id) == [("processing",)]
    time.sleep(1.5)  # longer than the stale threshold below: the killed job's heartbeat has stopped
    result = workers.run_burst(OPENTR_RECOVERY_STALE_SECONDS="1")
    assert result.returncode == 0, result.stderr[-2000:]
    assert workers.query("SELECT status, recovery_attempts FROM media_files WHERE id = %s", job.file_id) == [
        ("completed", 1)
    ]
    assert workers.query(
        "SELECT count(*), count(DISTINCT (start_time, md5(text))) FROM transcript_segments WHERE media_file_id = %s",
        job.file_id,
    ) == [(len(cues), len(cues))]
    assert workers.query("SELECT count(*) FROM analytics WHERE media_file_id = %s", job.file_id) == [(1,)]
    assert workers.query("SELECT status FROM tasks WHERE id = %s", job.task_id) == [("failed",)]
    assert workers.query(
        "SELECT count(*) FROM tasks WHERE media_file_id = %s AND status IN ('pending', 'in_progress')", job.file_id
    ) == [(0,)]


def test_cancellation_mid_job_ends_cancelled_with_partial_data_removed(workers: WorkerEnv) -> None:
    job = workers.arrange(wav(2.0), srt(many_cues(40_000)))
    worker = workers.start()
    try:
        _wait_for(workers, job.file_id, "progress >= 0.15")
        with __import__("psycopg").connect(workers.conninfo, autocommit=True) as conn:
            from repo.media_files import MediaFileRepository

            uuid = workers.query("SELECT uuid FROM media_files WHERE id = %s", job.file_id)[0][0]
            MediaFileRepository(conn).request_cancel(job.owner, uuid)
        assert worker.wait(timeout=120) == 0
    finally:
        if worker.poll() is None:
            kill_group(worker)
    assert workers.query("SELECT status FROM media_files WHERE id = %s", job.file_id) == [("cancelled",)]
    assert workers.query("SELECT count(*) FROM transcript_segments WHERE media_file_id = %s", job.file_id) == [(0,)]
    assert workers.query("SELECT count(*) FROM analytics WHERE media_file_id = %s", job.file_id) == [(0,)]
    assert workers.query("SELECT status FROM tasks WHERE id = %s", job.task_id) == [("cancelled",)]


def test_a_lost_queued_job_is_enqueued_again(workers: WorkerEnv) -> None:
    job = workers.arrange(wav(1.0), srt([(0.0, 1.0, "SPEAKER_00", "hello")]))
    Redis.from_url(workers.redis_url).flushdb()  # as if Redis restarted without persistence
    time.sleep(1.2)
    assert workers.run_burst(OPENTR_RECOVERY_STALE_SECONDS="1").returncode == 0
    assert workers.query("SELECT status FROM media_files WHERE id = %s", job.file_id) == [("completed",)]


def test_a_stored_path_leading_outside_storage_is_never_read(workers: WorkerEnv) -> None:
    """A row whose storage_path climbs out of the storage directory fails as a storage error; the file it points at
    (a perfectly processable recording with its sidecar) is not read."""
    job = workers.arrange(wav(1.0), srt([(0.0, 1.0, "SPEAKER_00", "secret")]))
    outside = workers.home / "outside.wav"
    outside.write_bytes(wav(1.0))
    outside.with_name("outside.wav.transcript").write_bytes(srt([(0.0, 1.0, "SPEAKER_00", "not yours")]))
    with psycopg.connect(workers.conninfo, autocommit=True) as conn:
        conn.execute("UPDATE media_files SET storage_path = '../outside.wav' WHERE id = %s", [job.file_id])
    assert workers.run_burst().returncode == 0
    status, category, message = workers.query(
        "SELECT status, error_category, last_error_message FROM media_files WHERE id = %s", job.file_id
    )[0]
    assert (status, category) == ("error", "storage"), message
    assert "outside the storage directory" in message
    assert workers.query("SELECT count(*) FROM transcript_segments WHERE media_file_id = %s", job.file_id) == [(0,)]
