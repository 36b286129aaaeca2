"""Processing choices through HTTP (web/choices.py, web/file_uploads.py, web/processing.py): chosen at upload,
filled from the user's settings, stored with the file, shown by GET /api/files/{uuid}, changed by a reprocess, one
stage re-run; every bad input answered with the field named and nothing stored or queued."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from redis import Redis
from rq import Queue

from config.settings import Settings
from tests import factories
from tests.test_web_files import upload, wav_bytes
from tests.web import actor_of, register

VOCABULARY = "Müller, Tōkyō 東京, الرياض, 🚀 Rocket-Lab"
UNKNOWN = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def model_settings(app_settings: Settings, tiny_whisper_dir: Path) -> Settings:
    """The app with one speech model on disk: the configured folder (the tiny model)."""
    return app_settings.model_copy(update={"opentr_asr_model": str(tiny_whisper_dir)})


@pytest.fixture
def api(model_settings: Settings) -> Iterator[Any]:
    from starlette.testclient import TestClient

    from web.app import create_app

    with TestClient(create_app(model_settings)) as test_client:
        client: Any = test_client
        Redis.from_url(client.app.state.services.redis_url).flushdb()  # the queues are shared between tests
        yield client


def stored(conninfo: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(conninfo) as conn:
        return conn.execute(
            "SELECT m.uuid::text, pc.model, pc.language, pc.task, pc.vocabulary, pc.diarization, pc.summary,"
            " pc.summary_prompt_id, pc.rerun_stage, m.num_speakers, m.min_speakers, m.max_speakers"
            " FROM media_files m LEFT JOIN processing_choices pc ON pc.media_file_id = m.id ORDER BY m.id"
        ).fetchall()


def queued(api: Any) -> list[str]:
    redis = Redis.from_url(api.app.state.services.redis_url)
    return [*Queue("media", connection=redis).get_job_ids(), *Queue("summaries", connection=redis).get_job_ids()]


def a_prompt(api: Any, headers: dict[str, str], name: str = "Kurz") -> str:
    body = {"name": name, "prompt_text": "Fasse zusammen: {transcript}", "content_type": "general"}
    response = api.post("/api/prompts", headers=headers, json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["uuid"])


def test_every_choice_given_at_upload_is_stored_and_shown(api: Any, model_settings: Settings) -> None:
    headers = register(api)
    prompt = a_prompt(api, headers)
    model = str(model_settings.opentr_asr_model)
    response = upload(
        api,
        headers,
        model=model,
        language="ja",
        task="translate",
        vocabulary=VOCABULARY,
        num_speakers="3",
        diarization="false",
        summary="true",
        summary_prompt=prompt,
    )
    assert response.status_code == 201, response.text
    file_uuid = response.json()["uuid"]
    choices = api.get(f"/api/files/{file_uuid}", headers=headers).json()["choices"]
    assert choices == {
        "stored": True,
        "model": model,
        "language": "ja",
        "task": "translate",
        "vocabulary": VOCABULARY,
        "num_speakers": 3,
        "min_speakers": None,
        "max_speakers": None,
        "diarization": False,
        "summary": True,
        "summary_prompt": prompt,
    }
    assert stored(str(model_settings.database_url))[0][:4] == (file_uuid, model, "ja", "translate")


def test_choices_left_out_come_from_the_users_settings(api: Any, model_settings: Settings) -> None:
    headers = register(api)
    model = str(model_settings.opentr_asr_model)
    defaults = {
        "transcription.model": model,
        "transcription.language": "de",
        "transcription.task": "translate",
        "transcription.vocabulary": VOCABULARY,
        "diarization.enabled": False,
        "summary.auto": True,
    }
    assert api.put("/api/settings", headers=headers, json=defaults).status_code == 200
    with_defaults = upload(api, headers).json()["uuid"]
    chosen = upload(api, headers, wav_bytes(tone=700), language="auto", vocabulary="", diarization="true").json()
    shown = api.get(f"/api/files/{with_defaults}", headers=headers).json()["choices"]
    assert (shown["model"], shown["language"], shown["task"], shown["vocabulary"]) == (
        model,
        "de",
        "translate",
        VOCABULARY,
    )
    assert (shown["diarization"], shown["summary"]) == (False, True)
    own = api.get(f"/api/files/{chosen['uuid']}", headers=headers).json()["choices"]
    assert (own["language"], own["vocabulary"], own["diarization"], own["task"]) == (None, None, True, "translate")


def test_a_default_model_no_longer_on_the_server_falls_back_to_the_configured_one(api: Any) -> None:
    headers = register(api)
    assert api.put("/api/settings/transcription.model", headers=headers, json={"value": "gone/away"}).status_code == 200
    file_uuid = upload(api, headers).json()["uuid"]
    assert api.get(f"/api/files/{file_uuid}", headers=headers).json()["choices"]["model"] is None


@pytest.mark.parametrize(
    ("fields", "status", "field"),
    [
        ({"model": "large-v3"}, 422, "model"),
        ({"language": "klingon"}, 422, "language"),
        ({"language": "EN"}, 422, "language"),
        ({"task": "summarise"}, 422, "task"),
        ({"vocabulary": "ö" * 501}, 422, "vocabulary"),
        ({"diarization": "maybe"}, 422, "diarization"),
        ({"summary": "yes"}, 422, "summary"),
        ({"num_speakers": "101"}, 422, "num_speakers"),
        ({"min_speakers": "0"}, 422, "min_speakers"),
        ({"min_speakers": "6", "max_speakers": "2"}, 409, "min_speakers"),
        ({"summary_prompt": UNKNOWN}, 409, "summary_prompt"),
        ({"summary_prompt": "not-a-uuid"}, 422, "summary_prompt"),
    ],
)
def test_a_bad_choice_at_upload_names_the_field_and_stores_nothing(
    api: Any, model_settings: Settings, fields: dict[str, str], status: int, field: str
) -> None:
    response = upload(api, register(api), None, "talk.wav", None, **fields)
    assert response.status_code == status, response.text
    assert response.json()["field"] == field
    assert stored(str(model_settings.database_url)) == []
    assert [p for p in model_settings.storage_dir.rglob("*") if p.is_file()] == []
    assert queued(api) == []


def test_another_users_prompt_is_refused(api: Any, model_settings: Settings) -> None:
    theirs = a_prompt(api, register(api), "Fremd")
    response = upload(api, register(api), summary_prompt=theirs)
    assert response.status_code == 409 and response.json()["field"] == "summary_prompt"
    assert stored(str(model_settings.database_url)) == []


def a_completed_file(api: Any, settings: Settings, headers: dict[str, str], texts: list[str]) -> str:
    """An uploaded file whose transcript is `texts` (written as a finished job would)."""
    file_uuid = str(upload(api, headers, wav_bytes(tone=300 + len(texts))).json()["uuid"])
    with psycopg.connect(str(settings.database_url), autocommit=True) as conn:
        row = conn.execute("UPDATE media_files SET status = 'completed' WHERE uuid = %s RETURNING id", [file_uuid])
        file_id = row.fetchone()[0]  # type: ignore[index]
        factories.segments(conn, file_id, texts)
    Redis.from_url(api.app.state.services.redis_url).flushdb()
    return file_uuid


def test_reprocess_keeps_the_stored_choices_unless_the_body_changes_them(api: Any, model_settings: Settings) -> None:
    headers = register(api)
    conninfo = str(model_settings.database_url)
    file_uuid = a_completed_file(api, model_settings, headers, ["Grüß Gott"])
    before = stored(conninfo)
    again = api.post(f"/api/files/{file_uuid}/reprocess", headers=headers)
    assert again.status_code == 200 and again.json()["status"] == "queued"
    assert stored(conninfo) == before
    api.post(f"/api/files/{file_uuid}/cancel", headers=headers)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("UPDATE media_files SET status = 'completed'")
    change = {"language": "ar", "vocabulary": VOCABULARY, "max_speakers": 4, "task": "translate"}
    changed = api.post(f"/api/files/{file_uuid}/reprocess", headers=headers, json=change)
    assert changed.status_code == 200, changed.text
    choices = api.get(f"/api/files/{file_uuid}", headers=headers).json()["choices"]
    assert (choices["language"], choices["vocabulary"], choices["max_speakers"], choices["task"]) == (
        "ar",
        VOCABULARY,
        4,
        "translate",
    )
    assert choices["model"] is None and choices["diarization"] is True  # left out: kept


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"model": "medium"}, 422, "model"),
        ({"language": "xx"}, 422, "language"),
        ({"vocabulary": "x" * 501}, 422, "vocabulary"),
        ({"task": "summarise"}, 422, "task"),
        ({"num_speakers": 0}, 422, "num_speakers"),
        ({"min_speakers": 5, "max_speakers": 2}, 409, "min_speakers"),
        ({"summary_prompt": UNKNOWN}, 409, "summary_prompt"),
        ({"colour": "blue"}, 422, "colour"),
    ],
)
def test_a_bad_choice_at_reprocess_changes_nothing_and_queues_nothing(
    api: Any, model_settings: Settings, body: dict[str, Any], status: int, field: str
) -> None:
    headers = register(api)
    file_uuid = a_completed_file(api, model_settings, headers, ["Hallo"])
    before = stored(str(model_settings.database_url))
    response = api.post(f"/api/files/{file_uuid}/reprocess", headers=headers, json=body)
    assert response.status_code == status, response.text
    assert response.json()["field"] == field
    assert stored(str(model_settings.database_url)) == before
    assert api.get(f"/api/files/{file_uuid}", headers=headers).json()["status"] == "completed"
    assert queued(api) == []


@pytest.mark.parametrize("stage", ["transcription", "diarization"])
def test_a_rerun_of_a_media_stage_queues_the_file_with_that_stage(
    api: Any, model_settings: Settings, stage: str
) -> None:
    headers = register(api)
    file_uuid = a_completed_file(api, model_settings, headers, ["سلام", "こんにちは"])
    response = api.post(f"/api/files/{file_uuid}/rerun", headers=headers, json={"stage": stage, "num_speakers": 2})
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "queued"
    row = stored(str(model_settings.database_url))[0]
    assert (row[8], row[9]) == (stage, 2)
    assert len(queued(api)) == 1


def test_a_rerun_of_the_summary_queues_a_summary_and_leaves_the_file_alone(api: Any, model_settings: Settings) -> None:
    headers = register(api)
    config = {"name": "Local", "provider": "ollama", "model_name": "m", "base_url": "http://127.0.0.1:9"}
    config_uuid = api.post("/api/llm-configs", headers=headers, json=config).json()["uuid"]
    api.post(f"/api/llm-configs/{config_uuid}/activate", headers=headers)
    prompt = a_prompt(api, headers)
    file_uuid = a_completed_file(api, model_settings, headers, ["Ein Satz."])
    segments = api.get(f"/api/files/{file_uuid}/transcript", headers=headers).json()
    response = api.post(
        f"/api/files/{file_uuid}/rerun", headers=headers, json={"stage": "summary", "summary_prompt": prompt}
    )
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "completed" and response.json()["summary_status"] == "pending"
    assert api.get(f"/api/files/{file_uuid}/transcript", headers=headers).json() == segments
    assert api.get(f"/api/files/{file_uuid}", headers=headers).json()["choices"]["summary_prompt"] == prompt
    assert [job.split("-")[0] for job in queued(api)] == ["summary"]


@pytest.mark.parametrize(
    ("body", "status", "field", "says"),
    [
        ({"stage": "everything"}, 422, "stage", ""),
        ({}, 422, "stage", ""),
        ({"stage": "diarization"}, 409, "stage", "transcription first"),
        ({"stage": "speakers"}, 409, "stage", "transcription first"),
        ({"stage": "summary"}, 409, "stage", "transcription first"),
    ],
)
def test_a_rerun_without_its_input_or_of_an_unknown_stage_is_refused(
    api: Any, model_settings: Settings, body: dict[str, Any], status: int, field: str, says: str
) -> None:
    headers = register(api)
    file_uuid = a_completed_file(api, model_settings, headers, [])
    before = stored(str(model_settings.database_url))
    response = api.post(f"/api/files/{file_uuid}/rerun", headers=headers, json=body)
    assert response.status_code == status, response.text
    assert response.json()["field"] == field and says in response.json()["detail"]
    assert stored(str(model_settings.database_url)) == before
    assert queued(api) == []


def test_speaker_matching_needs_stored_voices(api: Any, model_settings: Settings) -> None:
    headers = register(api)
    file_uuid = a_completed_file(api, model_settings, headers, ["Hi"])
    response = api.post(f"/api/files/{file_uuid}/rerun", headers=headers, json={"stage": "speakers"})
    assert response.status_code == 409 and "diarization" in response.json()["detail"]
    assert queued(api) == []


def test_a_rerun_of_another_users_file_is_not_found(api: Any, model_settings: Settings) -> None:
    file_uuid = a_completed_file(api, model_settings, register(api), ["Hi"])
    response = api.post(f"/api/files/{file_uuid}/rerun", headers=register(api), json={"stage": "summary"})
    assert response.status_code == 404


def test_the_document_lists_the_models_on_this_server_and_whispers_languages(
    api: Any, model_settings: Settings
) -> None:
    document = api.get("/api/openapi.json").json()
    form = document["paths"]["/api/files"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert form["properties"]["model"]["enum"] == [str(model_settings.opentr_asr_model), ""]
    assert "|ja|" in form["properties"]["language"]["pattern"]
    rerun = document["paths"]["/api/files/{uuid}/rerun"]["post"]["requestBody"]["content"]["application/json"]
    schema = rerun["schema"]
    assert schema["properties"]["model"]["enum"] == [str(model_settings.opentr_asr_model), None]
    assert schema["properties"]["stage"]["enum"] == ["transcription", "diarization", "speakers", "summary"]


def test_a_user_without_choices_sees_their_files_defaults(api: Any, model_settings: Settings) -> None:
    headers = register(api)
    owner = actor_of(api, str(model_settings.database_url), headers)
    with psycopg.connect(str(model_settings.database_url), autocommit=True) as conn:
        _, file_uuid = factories.media_file(conn, owner, status="completed")
    choices = api.get(f"/api/files/{file_uuid}", headers=headers).json()["choices"]
    assert choices["stored"] is False and choices["task"] == "transcribe" and choices["diarization"] is True


def test_a_whole_reprocess_forgets_a_stage_left_pending(api: Any, model_settings: Settings) -> None:
    """A re-run of diarization cancelled while queued stays the file's stage (a retry repeats it); a reprocess is a
    whole run again."""
    headers = register(api)
    conninfo = str(model_settings.database_url)
    file_uuid = a_completed_file(api, model_settings, headers, ["Hallo"])
    assert api.post(f"/api/files/{file_uuid}/rerun", headers=headers, json={"stage": "diarization"}).status_code == 202
    cancelled = api.post(f"/api/files/{file_uuid}/cancel", headers=headers)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert stored(conninfo)[0][8] == "diarization"
    assert api.post(f"/api/files/{file_uuid}/reprocess", headers=headers).status_code == 200
    assert stored(conninfo)[0][8] is None


def test_the_file_page_shows_the_choices_and_reruns_a_stage_without_a_script(
    api: Any, model_settings: Settings
) -> None:
    from tests.web import sign_up

    token = sign_up(api)  # the page's session uploads as the upload page's script does
    upload_page = api.get("/upload").text
    assert '<details id="choices"' in upload_page and '<option value="ja"' in upload_page
    files = {"file": ("Grüße.wav", wav_bytes(tone=900), "audio/wav")}
    data = {"language": "ja", "vocabulary": VOCABULARY, "diarization": "false"}
    created = api.post("/api/files", files=files, data=data, headers={"X-CSRF-Token": token})
    assert created.status_code == 201, created.text
    file_uuid = created.json()["uuid"]
    page = api.get(f"/files/{file_uuid}").text
    assert 'data-choice="language">ja<' in page and f'data-choice="vocabulary">{VOCABULARY}<' in page
    assert 'data-choice="diarization">off<' in page
    refused = api.post(f"/files/{file_uuid}/rerun", data={"csrf": token, "stage": "everything"})
    assert refused.status_code == 422 and "Stage: one of transcription" in refused.text


def test_a_rerun_of_a_file_still_waiting_takes_the_place_of_its_job(api: Any, model_settings: Settings) -> None:
    headers = register(api)
    file_uuid = upload(api, headers).json()["uuid"]
    response = api.post(f"/api/files/{file_uuid}/rerun", headers=headers, json={"stage": "transcription"})
    assert response.status_code == 202 and response.json()["status"] == "queued", response.text
    with psycopg.connect(str(model_settings.database_url)) as conn:
        tasks = [row[0] for row in conn.execute("SELECT id FROM tasks ORDER BY created_at, id")]
        [(active,)] = conn.execute("SELECT active_task_id FROM media_files").fetchall()
    assert len(tasks) == 2 and active == tasks[1], "the file waits for the re-run's job, not the upload's"
    assert stored(str(model_settings.database_url))[0][8] == "transcription"


def test_the_settings_page_saves_processing_defaults_and_refuses_an_unknown_model(
    api: Any, model_settings: Settings
) -> None:
    from tests.web import sign_up

    token = sign_up(api)
    model = str(model_settings.opentr_asr_model)
    form = {
        "csrf": token,
        "transcription.model": model,
        "transcription.task": "translate",
        "transcription.vocabulary": VOCABULARY,
    }
    assert api.post("/settings/processing", data=form).status_code == 200  # redirected back to the page
    values = api.get("/api/settings").json()
    assert (values["transcription.model"], values["transcription.task"]) == (model, "translate")
    assert (values["transcription.vocabulary"], values["diarization.enabled"]) == (VOCABULARY, False)
    assert f'<option value="{model}" selected>' in api.get("/upload").text
    refused = api.post("/settings/processing", data={**form, "transcription.model": "large-v3"})
    assert refused.status_code == 422 and "no speech model" in refused.text
    assert api.get("/api/settings").json()["transcription.task"] == "translate"
