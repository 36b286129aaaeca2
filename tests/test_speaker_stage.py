"""The worker's speaker stage: WhisperX sidecars with speaker_embeddings, stored and matched after the transcript,
and the outcome on the file and in the notifications (one speaker is never silent)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from repo.database import Database
from repo.notifications import NotificationRepository
from repo.rows import Actor
from repo.segments import SegmentRepository
from repo.speaker_profiles import SpeakerProfileRepository
from repo.speakers import SpeakerRepository
from repo.user_settings import SettingsRepository
from tests import factories
from transcript.sidecars import SidecarError, parse_sidecar, parse_speaker_embeddings
from transcript.speakers import Voice
from workers import speaker_stage
from workers.steps import FileJob

DIM = 32
ANN, BOB = np.linalg.qr(np.random.default_rng(11).standard_normal((DIM, 2)))[0].T


def whisperx(embeddings: dict[str, Any]) -> bytes:
    return json.dumps(
        {
            "segments": [
                {"start": 0.0, "end": 2.0, "text": "Hello, I am Ann.", "speaker": "SPEAKER_00"},
                {"start": 2.5, "end": 4.0, "text": "And I am Bob.", "speaker": "SPEAKER_01"},
            ],
            "speaker_embeddings": embeddings,
        }
    ).encode()


def job_for(db: Database, conn: Any, owner: Actor, file_id: int) -> FileJob:
    task_id = f"process-{file_id}"
    conn.execute(
        "INSERT INTO tasks (id, user_id, media_file_id, task_type) VALUES (%s, %s, %s, 'transcription')",
        [task_id, owner.id, file_id],
    )
    return FileJob(db, file_id, owner.id, task_id, "talk.wav")


def process(db: Database, owner: Actor, sidecar: bytes) -> tuple[int, Any]:
    """What process_media does with a sidecar: transcript, then the speaker stage, in one step."""
    with db.transaction() as conn:
        file_id, file_uuid = factories.media_file(conn, owner, status="processing")
        SegmentRepository(conn).replace_transcript(file_id, parse_sidecar(sidecar))
        report = speaker_stage.store_speakers_and_match(conn, file_id, owner.id, parse_speaker_embeddings(sidecar))
        speaker_stage.record_outcome(conn, job_for(db, conn, owner, file_id), "transcript", None, report)
    return file_id, file_uuid


def test_the_second_recording_of_the_same_person_says_who_is_speaking(db: Database) -> None:
    with db.transaction() as conn:
        owner = factories.user(conn)
    _, first = process(db, owner, whisperx({"SPEAKER_00": list(ANN), "SPEAKER_01": list(BOB)}))
    with db.transaction() as conn:
        speakers = SpeakerRepository(conn)
        ann_speaker = next(s for s in speakers.list_for_file(owner, first) if s.label == "SPEAKER_00")
        ann = SpeakerProfileRepository(conn).create(owner, "Ann")
        speakers.accept_suggestion(owner, ann_speaker.uuid, ann.uuid)

    noisy_ann = list(ANN + 0.05 * BOB)  # cosine 0.9988 with Ann
    _, second = process(db, owner, whisperx({"SPEAKER_00": list(BOB), "SPEAKER_01": noisy_ann}))

    with db.transaction() as conn:
        found = {s.label: s for s in SpeakerRepository(conn).list_for_file(owner, second)}
        assert (found["SPEAKER_01"].profile_name, found["SPEAKER_01"].assigned_by) == ("Ann", "auto")
        assert found["SPEAKER_00"].profile_name is None
        notes = NotificationRepository(conn).list(owner)
        row = conn.execute("SELECT diarization FROM media_files WHERE uuid = %s", [second]).fetchone()
    assert row == ("transcript",)
    [recognised] = [n for n in notes if n.media_file_uuid == second]  # one notification: the speaker recognised
    assert (recognised.kind, recognised.title) == ("speakers", "talk.wav: speakers recognised")
    assert "1 speaker(s) recognised from your speaker profiles" in recognised.message


def test_a_user_setting_raises_the_bar_for_automatic_assignment(db: Database) -> None:
    with db.transaction() as conn:
        owner = factories.user(conn)
        SettingsRepository(conn).set(owner, "match.auto_assign", 0.9999)
    _, first = process(db, owner, whisperx({"SPEAKER_00": list(ANN)}))
    with db.transaction() as conn:
        speaker = SpeakerRepository(conn).list_for_file(owner, first)[0]
        ann = SpeakerProfileRepository(conn).create(owner, "Ann")
        SpeakerRepository(conn).accept_suggestion(owner, speaker.uuid, ann.uuid)

    _, second = process(db, owner, whisperx({"SPEAKER_00": list(ANN + 0.05 * BOB)}))

    with db.transaction() as conn:
        speaker = SpeakerRepository(conn).list_for_file(owner, second)[0]
        assert speaker.profile_uuid is None
        (suggestion,) = SpeakerRepository(conn).suggestions(owner, speaker.uuid)
    assert suggestion.profile_uuid == ann.uuid and suggestion.confidence == pytest.approx(0.99875, abs=1e-4)


@pytest.mark.parametrize(
    ("outcome", "note"),
    [
        ("off", None),
        ("models_missing", "speaker diarization models are missing: one speaker; run `opentr models pull diarization`"),
    ],
)
def test_without_diarization_the_file_and_the_outcome_notification_say_so(
    db: Database, outcome: Any, note: str | None
) -> None:
    """Diarization off is the operator's choice: nothing to say. Models missing: said with the transcript's one
    notification (the job's note), not in a notification of its own."""
    with db.transaction() as conn:
        owner = factories.user(conn)
        file_id, _ = factories.media_file(conn, owner, status="processing")
        job = job_for(db, conn, owner, file_id)
        speaker_stage.record_outcome(conn, job, outcome, "run `opentr models pull diarization`")
        speaker_stage.record_outcome(conn, job, outcome, "run `opentr models pull diarization`")  # a step re-run
        assert NotificationRepository(conn).list(owner) == []
        row = conn.execute("SELECT diarization FROM media_files WHERE id = %s", [file_id]).fetchone()
    assert row == (outcome,)
    assert job.notes == ([note] if note else [])


def test_sidecar_embeddings_are_read_from_whisperx_json_only() -> None:
    assert parse_speaker_embeddings(whisperx({"SPEAKER_00": [1, 2.5]})) == {"SPEAKER_00": Voice([1.0, 2.5])}
    assert parse_speaker_embeddings(b"1\n00:00:01,000 --> 00:00:02,000\nhi\n") == {}
    assert parse_speaker_embeddings(json.dumps({"segments": []}).encode()) == {}
    with pytest.raises(SidecarError, match=r"t.json: speaker_embeddings\['SPEAKER_01'\]: every value must be a fin"):
        parse_speaker_embeddings(whisperx({"SPEAKER_01": [1, "x"]}), "t.json")
    with pytest.raises(SidecarError, match=r"speaker_embeddings\['SPEAKER_02'\]: expected a non-empty list"):
        parse_speaker_embeddings(whisperx({"SPEAKER_02": []}))
    with pytest.raises(SidecarError, match='"speaker_embeddings" must be an object'):
        parse_speaker_embeddings(whisperx([1, 2]))  # type: ignore[arg-type]
