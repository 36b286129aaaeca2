"""Attaching a transcript file to an existing file (PUT /api/files/{uuid}/transcript) and the file page's form; a
file that failed (no speech model) is fixed in place, through a real `opentr worker --burst`; a transcript longer
than the recording is kept, with a warning on the file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from redis import Redis
from rq import Queue

from config.settings import Settings
from tests.web import register, sign_up
from tests.workers_support import WorkerEnv, srt, wav

FITTING = [(0.0, 1.2, "SPEAKER_00", "Guten Morgen zusammen"), (1.2, 2.8, "SPEAKER_01", "会議を始めましょう")]
TOO_LONG = [(0.0, 9.0, "SPEAKER_00", "This belongs to another recording"), (9.0, 18.0, "SPEAKER_01", "really")]


def upload(client: Any, headers: dict[str, str], data: bytes, sidecar: bytes | None = None) -> dict[str, Any]:
    files: dict[str, Any] = {"file": ("Besprechung-Müller.wav", data, "audio/wav")}
    if sidecar is not None:
        files["transcript"] = ("talk.srt", sidecar, "application/x-subrip")
    response = client.post("/api/files", headers=headers, files=files)
    assert response.status_code == 201, response.text
    return dict(response.json())


def attach(client: Any, headers: dict[str, str], file_uuid: str, sidecar: bytes, **extra: str) -> Any:
    files = {"transcript": ("会議の記録.srt", sidecar, "application/x-subrip")}
    return client.put(f"/api/files/{file_uuid}/transcript", headers=headers, files=files, data=extra)


def set_status(conninfo: str, file_uuid: str, status: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("UPDATE media_files SET status = %s WHERE uuid = %s", [status, file_uuid])


def sidecar_files(settings: Settings) -> list[Path]:
    return [p for p in settings.storage_dir.rglob("*.transcript")]


def test_a_failed_file_takes_a_transcript_and_is_queued_again(
    client: Any, app_settings: Settings, fresh_url: str
) -> None:
    headers = register(client)
    file = upload(client, headers, wav(3.0))
    set_status(fresh_url, file["uuid"], "error")

    attached = attach(client, headers, file["uuid"], srt(FITTING))

    assert attached.status_code == 200, attached.text
    assert attached.json()["status"] == "queued" and attached.json()["retry_count"] == 0
    [stored] = sidecar_files(app_settings)
    assert stored.read_bytes() == srt(FITTING)
    task = client.get(f"/api/files/{file['uuid']}/status", headers=headers).json()["active_task_id"]
    queue = Queue("media", connection=Redis.from_url(client.app.state.services.redis_url))
    assert task in queue.job_ids
    # a step, announced live; the notification comes with the outcome of processing
    assert client.get("/api/notifications", headers=headers).json()["items"] == []


def test_a_file_still_waiting_is_queued_again_with_the_transcript(client: Any, app_settings: Settings) -> None:
    headers = register(client)
    file = upload(client, headers, wav(1.0))
    first_task = client.get(f"/api/files/{file['uuid']}/status", headers=headers).json()["active_task_id"]

    attached = attach(client, headers, file["uuid"], srt(FITTING))

    assert attached.status_code == 200 and attached.json()["status"] == "queued"
    task = client.get(f"/api/files/{file['uuid']}/status", headers=headers).json()["active_task_id"]
    assert task != first_task, "the job that was waiting finds the file no longer its own and does nothing"
    assert len(sidecar_files(app_settings)) == 1


@pytest.mark.parametrize("status", ["processing", "cancelling"])
def test_a_file_being_processed_is_a_409_and_keeps_its_transcript_file(
    client: Any, app_settings: Settings, fresh_url: str, status: str
) -> None:
    headers = register(client)
    file = upload(client, headers, wav(1.0), sidecar=srt(FITTING))
    set_status(fresh_url, file["uuid"], status)

    refused = attach(client, headers, file["uuid"], srt(TOO_LONG))

    assert refused.status_code == 409 and refused.json()["field"] == "status"
    assert refused.json()["detail"].startswith(f"the file is {status}; attach the transcript once processing")
    [kept] = sidecar_files(app_settings)
    assert kept.read_bytes() == srt(FITTING)
    assert not list(app_settings.storage_dir.rglob("*.part")), "the refused upload leaves no spool file"


def test_bad_requests_name_their_field_and_store_nothing(client: Any, app_settings: Settings, fresh_url: str) -> None:
    headers = register(client)
    file = upload(client, headers, wav(1.0))
    set_status(fresh_url, file["uuid"], "error")
    path = f"/api/files/{file['uuid']}/transcript"

    missing = client.put(path, headers=headers, files={"file": ("a.srt", srt(FITTING), "application/x-subrip")})
    assert missing.status_code == 400 and missing.json()["field"] == "transcript"
    empty = client.put(path, headers=headers, files={"transcript": ("a.srt", b"", "application/x-subrip")})
    assert empty.status_code == 400 and empty.json()["field"] == "transcript"
    extra = attach(client, headers, file["uuid"], srt(FITTING), title="x")
    assert extra.status_code == 422 and extra.json()["field"] == "title"
    json_body = client.put(path, headers=headers, json={"transcript": "1"})
    assert json_body.status_code == 400 and json_body.json()["field"] == "transcript"
    others = attach(client, register(client), file["uuid"], srt(FITTING))
    assert others.status_code == 404
    assert attach(client, {}, file["uuid"], srt(FITTING)).status_code == 401
    assert not sidecar_files(app_settings)
    assert client.get(f"/api/files/{file['uuid']}", headers=headers).json()["status"] == "error"


def test_no_queue_is_a_503_before_anything_is_stored(client: Any, app_settings: Settings, fresh_url: str) -> None:
    headers = register(client)
    file = upload(client, headers, wav(1.0))
    set_status(fresh_url, file["uuid"], "error")
    client.app.state.services.redis = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)

    refused = attach(client, headers, file["uuid"], srt(FITTING))

    assert refused.status_code == 503 and not sidecar_files(app_settings)


def test_the_document_declares_the_route_like_the_upload(client: Any) -> None:
    operation = client.get("/api/openapi.json").json()["paths"]["/api/files/{uuid}/transcript"]["put"]
    schema = operation["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert schema["required"] == ["transcript"] and schema["additionalProperties"] is False
    assert {"200", "400", "401", "404", "409", "413", "422", "503"} <= set(operation["responses"])
    upload_409 = client.get("/api/openapi.json").json()["paths"]["/api/files"]["post"]["responses"]["409"]
    properties = upload_409["content"]["application/json"]["schema"]["allOf"][1]["properties"]
    assert set(properties) == {"existing_uuid", "existing_url"} and "Location" in upload_409["headers"]


def test_the_file_page_offers_the_form_unless_the_file_is_being_processed(client: Any, fresh_url: str) -> None:
    csrf = sign_up(client)
    headers = {"X-CSRF-Token": csrf}
    file = upload(client, headers, wav(1.0))
    set_status(fresh_url, file["uuid"], "error")
    page = client.get(f"/files/{file['uuid']}").text
    form = 'id="attach-transcript" class="stack" method="post" enctype="multipart/form-data"'
    assert f'{form} data-api="/api/files/{file["uuid"]}/transcript"' in page
    assert '<a href="#attach-transcript">attach a transcript file</a>' in page
    assert '<script type="module" src="/static/attach.js"></script>' in page
    assert client.get("/static/attach.js").status_code == 200

    attached = attach(client, headers, file["uuid"], srt(FITTING))  # the page's script sends the same request
    assert attached.status_code == 200, attached.text
    set_status(fresh_url, file["uuid"], "processing")
    assert 'id="attach-transcript"' not in client.get(f"/files/{file['uuid']}").text


# --- through a real worker ---------------------------------------------------------------------------------------


@pytest.fixture
def workers(app_settings: Settings, fresh_url: str, redis_url: str) -> Iterator[WorkerEnv]:
    Redis.from_url(redis_url).flushdb()  # only this test's jobs for the burst worker to find
    yield WorkerEnv(fresh_url, redis_url, app_settings.opentr_home)  # the app's storage
    Redis.from_url(redis_url).flushdb()


def burst(workers: WorkerEnv, tmp_path: Path) -> None:
    # No speech model on this machine, and no hub to fetch one from: only transcript files can be used.
    result = workers.run_burst(timeout=120, OPENTR_ASR_MODEL=str(tmp_path / "no-model"), HF_HUB_OFFLINE="1")
    assert result.returncode == 0, result.stderr[-3000:]


def test_a_file_that_failed_for_want_of_a_model_is_fixed_in_place(
    client: Any, workers: WorkerEnv, tmp_path: Path
) -> None:
    headers = register(client)
    file = upload(client, headers, wav(3.0))
    burst(workers, tmp_path)
    failed = client.get(f"/api/files/{file['uuid']}", headers=headers).json()
    assert (failed["status"], failed["error_category"]) == ("error", "transcription")
    assert "holds no CTranslate2 model" in failed["last_error_message"]

    assert attach(client, headers, file["uuid"], srt(FITTING)).status_code == 200
    burst(workers, tmp_path)

    fixed = client.get(f"/api/files/{file['uuid']}", headers=headers).json()
    assert (fixed["status"], fixed["uuid"], fixed["warnings"]) == ("completed", file["uuid"], [])
    texts = [s["text"] for s in client.get(f"/api/files/{file['uuid']}/transcript", headers=headers).json()]
    assert texts == ["Guten Morgen zusammen", "会議を始めましょう"]


def test_a_transcript_longer_than_the_recording_is_kept_with_a_warning_until_a_fitting_one_replaces_it(
    client: Any, workers: WorkerEnv, tmp_path: Path
) -> None:
    headers = register(client)
    file = upload(client, headers, wav(3.0), sidecar=srt(TOO_LONG))
    burst(workers, tmp_path)

    warned = client.get(f"/api/files/{file['uuid']}", headers=headers).json()
    assert warned["status"] == "completed"
    assert warned["warnings"] == [
        "the transcript's speech runs to 18.0 s, but the recording is only 3.0 s long: the transcript file may "
        "belong to another recording, or its times may be shifted"
    ]
    segments = client.get(f"/api/files/{file['uuid']}/transcript", headers=headers).json()
    assert [s["text"] for s in segments] == ["This belongs to another recording", "really"], "kept, not refused"
    [note] = client.get("/api/notifications", headers=headers).json()["items"]  # one: the outcome, with the warning
    assert note["title"] == "Besprechung-Müller.wav: transcript ready"
    assert note["message"] == f"The transcript may not fit the recording: {warned['warnings'][0]}."

    assert attach(client, headers, file["uuid"], srt(FITTING)).status_code == 200
    burst(workers, tmp_path)
    assert client.get(f"/api/files/{file['uuid']}", headers=headers).json()["warnings"] == []


def test_the_file_page_shows_the_warning(client: Any, workers: WorkerEnv, tmp_path: Path) -> None:
    csrf = sign_up(client)
    file = upload(client, {"X-CSRF-Token": csrf}, wav(3.0), sidecar=srt(TOO_LONG))
    burst(workers, tmp_path)
    page = client.get(f"/files/{file['uuid']}").text
    assert '<h2 id="warnings-heading">About this transcript</h2>' in page
    assert "<li>The transcript&#39;s speech runs to 18.0 s, but the recording is only 3.0 s long" in page
