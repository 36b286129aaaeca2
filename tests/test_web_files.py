from __future__ import annotations

import hashlib
import io
import wave
from pathlib import Path
from typing import Any

import psycopg
import pytest
from redis import Redis
from rq import Queue

from config.settings import Settings
from tests import factories
from tests.web import a_file, actor_of, register, signed_in

SRT = (
    b"1\n00:00:00,000 --> 00:00:01,500\n[SPEAKER_00]: Hello there\n\n2\n00:00:01,500 --> 00:00:03,000\nSPEAKER_01: Hi\n"
)


def wav_bytes(seconds: float = 0.5, rate: int = 8000, tone: int = 1000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(int(tone).to_bytes(2, "little", signed=True) * int(seconds * rate))
    return buffer.getvalue()


def upload(
    client: Any,
    headers: dict[str, str],
    data: bytes | None = None,
    name: str = "talk.wav",
    sidecar: bytes | None = None,
    **fields: str,
) -> Any:
    files: dict[str, Any] = {"file": (name, data if data is not None else wav_bytes(), "audio/wav")}
    if sidecar is not None:
        files["transcript"] = ("talk.srt", sidecar, "application/x-subrip")
    return client.post("/api/files", headers=headers, files=files, data=fields)


def test_upload_stores_streams_hashes_and_enqueues(client: Any, app_settings: Settings) -> None:
    headers = register(client)
    data = wav_bytes(1.0)
    response = upload(client, headers, data, name="../../etc/My talk.wav", sidecar=SRT, title="Weekly")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["filename"] == "My talk.wav" and body["title"] == "Weekly"
    assert body["status"] == "queued" and body["file_hash"] == hashlib.sha256(data).hexdigest()
    assert "storage_path" not in body and "id" not in body and "user_id" not in body
    stored = [p for p in app_settings.storage_dir.rglob("*") if p.is_file()]
    assert sorted(p.suffix for p in stored) == ["", ".transcript"]
    media = next(p for p in stored if not p.suffix)
    assert media.read_bytes() == data and app_settings.storage_dir.resolve() in media.resolve().parents
    assert ".." not in str(media.relative_to(app_settings.storage_dir)) and "My talk" not in str(media)
    queue = Queue("media", connection=Redis.from_url(client.app.state.services.redis_url))
    job = queue.fetch_job(queue.job_ids[-1])
    assert job is not None and job.func_name == "workers.process_media.process_media"
    assert job.args[1] == job.id
    status = client.get(f"/api/files/{body['uuid']}/status", headers=headers).json()
    assert status["active_task_id"] == job.id
    notes = client.get("/api/notifications", headers=headers).json()
    assert notes["items"] == [], "an upload is a step (announced live), not a notification"


def test_duplicate_upload_is_a_conflict_and_stores_nothing_new(client: Any, app_settings: Settings) -> None:
    headers = register(client)
    first = upload(client, headers)
    again = upload(client, headers, name="copy.wav")
    assert again.status_code == 409 and again.json()["field"] == "file"
    assert first.json()["uuid"] in again.json()["detail"]
    assert len([p for p in app_settings.storage_dir.rglob("*") if p.is_file()]) == 1
    other = upload(client, register(client))
    assert other.status_code == 201, "another user may upload the same bytes"


@pytest.mark.parametrize(
    ("kwargs", "status", "field"),
    [
        ({"data": b"", "name": "empty.wav"}, 400, "file"),
        ({"name": "notes.txt", "data": b"plain text"}, 415, "file"),
        ({"title": "x" * 600}, 422, "title"),
    ],
)
def test_bad_uploads_are_refused_and_leave_nothing(
    client: Any, app_settings: Settings, kwargs: dict[str, Any], status: int, field: str
) -> None:
    headers = register(client)
    if kwargs.get("name") == "notes.txt":
        response = client.post("/api/files", headers=headers, files={"file": ("notes.txt", b"text", "text/plain")})
    else:
        response = upload(client, headers, **kwargs)
    assert response.status_code == status and response.json()["field"] == field, response.text
    assert not [p for p in app_settings.storage_dir.rglob("*") if p.is_file()]


def test_too_large_upload_is_413(client: Any, app_settings: Settings) -> None:
    client.app.state.services.settings = app_settings.model_copy(update={"opentr_max_upload_mb": 1})
    response = upload(client, register(client), wav_bytes(seconds=70, rate=8000))
    assert response.status_code == 413
    assert not [p for p in app_settings.storage_dir.rglob("*") if p.is_file()]


def test_upload_requires_a_token_and_multipart(client: Any) -> None:
    assert client.post("/api/files", files={"file": ("a.wav", wav_bytes(), "audio/wav")}).status_code == 401
    headers = register(client)
    assert client.post("/api/files", headers=headers, json={"file": "x"}).status_code == 400


def test_upload_answers_503_when_redis_is_down(client: Any, app_settings: Settings) -> None:
    headers = register(client)
    client.app.state.services.redis = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    response = upload(client, headers)
    assert response.status_code == 503 and "Redis" in response.json()["detail"]
    assert "retry-after" in response.headers
    assert not [p for p in app_settings.storage_dir.rglob("*") if p.is_file()]
    assert client.get("/api/files", headers=headers).json()["items"] == [], "reads still work, nothing stored"


def test_list_detail_update_delete(client: Any, app_settings: Settings) -> None:
    headers = register(client)
    uuid = upload(client, headers, title="First").json()["uuid"]
    upload(client, headers, wav_bytes(0.7), title="Second")
    page = client.get("/api/files", headers=headers, params={"limit": 1}).json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    rest = client.get("/api/files", headers=headers, params={"limit": 1, "cursor": page["next_cursor"]}).json()
    assert {page["items"][0]["uuid"], rest["items"][0]["uuid"]} == {
        f["uuid"] for f in client.get("/api/files", headers=headers).json()["items"]
    }
    assert client.get("/api/files", headers=headers, params={"q": "first"}).json()["items"][0]["uuid"] == uuid
    detail = client.get(f"/api/files/{uuid}", headers=headers).json()
    assert detail["tags"] == [] and detail["segment_count"] == 0
    changed = client.put(f"/api/files/{uuid}", headers=headers, json={"description": "notes"}).json()
    assert changed["description"] == "notes" and changed["title"] == "First"
    assert client.delete(f"/api/files/{uuid}", headers=headers).status_code == 204
    assert client.get(f"/api/files/{uuid}", headers=headers).status_code == 404
    assert len([p for p in app_settings.storage_dir.rglob("*") if p.is_file()]) == 1


def test_a_cursor_the_server_did_not_write_is_a_page_not_found(client: Any) -> None:
    response = client.get("/api/files", headers=register(client), params={"cursor": "garbage"})
    assert response.status_code == 404 and response.json()["field"] == "cursor", response.text


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"cursor": "not a cursor!"}, "cursor"),
        ({"collection": "nope"}, "collection"),
        ({"uploaded_from": "yesterday"}, "uploaded_from"),
        ({"status": "bogus"}, "status"),
        ({"unknown": "1"}, "unknown"),
    ],
)
def test_bad_list_parameters_name_the_field(client: Any, params: dict[str, Any], field: str) -> None:
    response = client.get("/api/files", headers=register(client), params=params)
    assert response.status_code == 422 and response.json()["field"] == field, response.text


def test_content_supports_range_requests(client: Any) -> None:
    headers = register(client)
    data = wav_bytes(1.0)
    uuid = upload(client, headers, data).json()["uuid"]
    whole = client.get(f"/api/files/{uuid}/content", headers=headers)
    assert whole.status_code == 200 and whole.content == data and whole.headers["accept-ranges"] == "bytes"
    part = client.get(f"/api/files/{uuid}/content", headers={**headers, "Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == data[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{len(data)}"
    beyond = client.get(f"/api/files/{uuid}/content", headers={**headers, "Range": f"bytes={len(data) + 5}-"})
    assert beyond.status_code == 416


def test_transcript_segments_and_subtitles(client: Any, fresh_url: str) -> None:
    headers = register(client)
    uuid = upload(client, headers).json()["uuid"]
    owner = actor_of(client, fresh_url, headers)
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        row = conn.execute("SELECT id FROM media_files WHERE uuid = %s", [uuid]).fetchone()
        assert row is not None
        speaker = factories.speaker(conn, owner, row[0], "SPEAKER_00")
        conn.execute("UPDATE speakers SET display_name = 'Ann' WHERE id = %s", [speaker])
        factories.segments(conn, row[0], ["Hello there", "Second <line> & more"], speaker)
    segments = client.get(f"/api/files/{uuid}/transcript", headers=headers).json()
    assert [s["text"] for s in segments] == ["Hello there", "Second <line> & more"]
    assert segments[0]["speaker_name"] == "Ann" and "id" not in segments[0]
    edited = client.put(
        f"/api/files/{uuid}/transcript/segments/{segments[0]['uuid']}", headers=headers, json={"text": "Hello, there"}
    )
    assert edited.status_code == 200 and edited.json()["text"] == "Hello, there"
    srt = client.get(f"/api/files/{uuid}/subtitles", headers=headers, params={"format": "srt"})
    assert srt.status_code == 200 and srt.text.startswith("1\n00:00:00,000 --> 00:00:00,900\nAnn: Hello, there")
    vtt = client.get(f"/api/files/{uuid}/subtitles", headers=headers, params={"format": "vtt"})
    assert vtt.text.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:00.900\n") and "&lt;line&gt; &amp; more" in vtt.text
    bad = client.get(f"/api/files/{uuid}/subtitles", headers=headers, params={"format": "doc"})
    assert bad.status_code == 422 and bad.json()["field"] == "format"
    bad_time = client.put(
        f"/api/files/{uuid}/transcript/segments/{segments[0]['uuid']}", headers=headers, json={"start_time": -1}
    )
    assert bad_time.status_code == 422 and bad_time.json()["field"] == "start_time"


def test_cancel_retry_reprocess(client: Any, fresh_url: str) -> None:
    headers = register(client)
    uuid = upload(client, headers).json()["uuid"]
    cancelled = client.post(f"/api/files/{uuid}/cancel", headers=headers)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert client.post(f"/api/files/{uuid}/cancel", headers=headers).status_code == 409
    retried = client.post(f"/api/files/{uuid}/retry", headers=headers)
    assert retried.status_code == 200 and retried.json()["status"] == "queued"
    assert retried.json()["retry_count"] == 1
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        conn.execute("UPDATE media_files SET status = 'completed' WHERE uuid = %s", [uuid])
    again = client.post(f"/api/files/{uuid}/reprocess", headers=headers)
    assert again.status_code == 200 and again.json()["status"] == "queued"
    assert client.get("/api/files/management/stuck", headers=headers).json() == []


def test_another_users_file_is_404_on_every_route(client: Any) -> None:
    owner = register(client)
    uuid = upload(client, owner).json()["uuid"]
    stranger = register(client)
    segment = "00000000-0000-0000-0000-000000000001"
    for method, path in [
        ("GET", f"/api/files/{uuid}"),
        ("PUT", f"/api/files/{uuid}"),
        ("DELETE", f"/api/files/{uuid}"),
        ("GET", f"/api/files/{uuid}/content"),
        ("GET", f"/api/files/{uuid}/transcript"),
        ("PUT", f"/api/files/{uuid}/transcript/segments/{segment}"),
        ("GET", f"/api/files/{uuid}/subtitles"),
        ("GET", f"/api/files/{uuid}/status"),
        ("POST", f"/api/files/{uuid}/cancel"),
        ("POST", f"/api/files/{uuid}/retry"),
        ("POST", f"/api/files/{uuid}/reprocess"),
        ("GET", f"/api/files/{uuid}/waveform"),
    ]:
        body = ({"text": "x"} if "segments" in path else {"title": "x"}) if method == "PUT" else None
        assert client.request(method, path, headers=stranger, json=body).status_code == 404, path
        assert client.request(method, path, json=body).status_code == 401, path
    assert client.get("/api/files", headers=stranger).json()["items"] == []
    assert client.get(f"/api/files/{uuid}", headers=owner).status_code == 200


def test_malformed_uuid_is_one_status_in_a_path_and_in_a_query(client: Any) -> None:
    headers = register(client)
    in_path = client.get("/api/files/not-a-uuid", headers=headers)
    assert in_path.status_code == 422 and in_path.json()["field"] == "uuid"
    in_query = client.get("/api/files", params={"collection": "not-a-uuid"}, headers=headers)
    assert in_query.status_code == 422 and in_query.json()["field"] == "collection"


def test_a_number_is_not_a_date_time_in_the_query(client: Any) -> None:
    headers = register(client)
    response = client.get("/api/files", params={"uploaded_to": "0.5"}, headers=headers)
    assert response.status_code == 422 and response.json()["field"] == "uploaded_to"
    iso = client.get("/api/files", params={"uploaded_to": "2030-01-01T00:00:00Z"}, headers=headers)
    assert iso.status_code == 200, iso.text


def test_a_missing_body_is_refused_on_put(client: Any, fresh_url: str) -> None:
    headers, owner = signed_in(client, fresh_url)
    file_uuid = a_file(fresh_url, owner, title="kept")
    response = client.put(f"/api/files/{file_uuid}", headers=headers)
    assert response.status_code == 422 and response.json()["field"] == "body"
    assert client.get(f"/api/files/{file_uuid}", headers=headers).json()["title"] == "kept"


def test_nul_characters_in_text_fields_are_refused_naming_the_field(client: Any, fresh_url: str) -> None:
    headers, owner = signed_in(client, fresh_url)
    file_uuid = a_file(fresh_url, owner)
    response = client.put(f"/api/files/{file_uuid}", headers=headers, json={"title": "a\x00b"})
    assert response.status_code == 422 and response.json()["field"] == "title"
    query = client.get("/api/files", params={"q": "a\x00b"}, headers=headers)
    assert query.status_code == 422 and query.json()["field"] == "q"


def test_stored_paths_cannot_escape_storage(tmp_path: Path) -> None:
    from repo.errors import NotFound
    from web.files import stored_path

    assert stored_path(tmp_path, "3/abc") == (tmp_path / "3" / "abc").resolve()
    for evil in ("../outside", "/etc/passwd", "3/../../x"):
        with pytest.raises(NotFound):
            stored_path(tmp_path, evil)


def test_upload_stores_speaker_count_hints_for_diarization(client: Any, app_settings: Settings) -> None:
    headers = register(client)
    created = upload(client, headers, min_speakers="2", max_speakers="4")
    assert created.status_code == 201, created.text
    exact = upload(client, headers, wav_bytes(tone=500), num_speakers="3", min_speakers="")
    assert exact.status_code == 201, exact.text
    with psycopg.connect(str(app_settings.database_url)) as conn:
        rows = conn.execute(
            "SELECT uuid::text, min_speakers, max_speakers, num_speakers FROM media_files ORDER BY id"
        ).fetchall()
    assert rows == [(created.json()["uuid"], 2, 4, None), (exact.json()["uuid"], None, None, 3)]


@pytest.mark.parametrize(
    ("fields", "status", "field"),
    [
        # each value is one the document allows; only together do they conflict (a rule no schema states)
        ({"min_speakers": "5", "max_speakers": "2"}, 409, "min_speakers"),
        ({"num_speakers": "0"}, 422, "num_speakers"),
        ({"max_speakers": "101"}, 422, "max_speakers"),
        ({"num_speakers": "two"}, 422, "num_speakers"),
    ],
)
def test_bad_speaker_count_hints_name_the_field(
    client: Any, app_settings: Settings, fields: dict[str, str], status: int, field: str
) -> None:
    response = upload(client, register(client), None, "talk.wav", None, **fields)
    assert response.status_code == status, response.text
    assert response.json()["field"] == field
    assert [p for p in app_settings.storage_dir.rglob("*") if p.is_file()] == []


def test_library_filters_arrive_from_the_query_string_and_bad_ones_name_their_field(
    client: Any, fresh_url: str
) -> None:
    headers = register(client)
    owner = actor_of(client, fresh_url, headers)
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        made = {
            name: factories.media_file(conn, owner, filename=f"{name}.wav", status=status, duration=duration)
            for name, status, duration in [("a", "completed", 30.0), ("b", "error", 90.0), ("c", "queued", 600.0)]
        }
    for name, tags in {"a": ["red", "blue"], "b": ["red"]}.items():
        for tag in tags:
            created = client.post(f"/api/files/{made[name][1]}/tags", headers=headers, json={"name": tag})
            assert created.status_code == 201, created.text
    names = {str(file_uuid): name for name, (_, file_uuid) in made.items()}

    def listed(**params: Any) -> list[str]:
        response = client.get("/api/files", headers=headers, params=params)
        assert response.status_code == 200, response.text
        return [names[item["uuid"]] for item in response.json()["items"]]

    assert listed(status="completed,error", sort="duration") == ["b", "a"]
    assert listed(tags="red,blue") == ["a"]
    assert listed(tags="red, blue", tags_mode="any", sort="title") == ["a", "b"]
    assert listed(duration_min="60", order="asc", sort="duration") == ["b", "c"]
    first = client.get("/api/files", headers=headers, params={"sort": "title", "limit": 2}).json()
    rest = client.get(
        "/api/files", headers=headers, params={"sort": "title", "limit": 2, "cursor": first["next_cursor"]}
    ).json()
    assert [names[i["uuid"]] for i in first["items"] + rest["items"]] == ["a", "b", "c"] and rest["next_cursor"] is None
    for params, status, field in [
        ({"status": "done"}, 422, "status"),
        ({"tags": ",".join(f"t{i}" for i in range(21))}, 422, "tags"),
        # two values the document allows, conflicting only together (a rule no schema states)
        ({"duration_min": "9", "duration_max": "1"}, 409, "duration_min"),
        ({"tags": ",".join(f"t{i}" for i in range(20)), "tag": "t20"}, 409, "tag"),
        ({"sort": "size"}, 422, "sort"),
        ({"media_type": "image"}, 422, "media_type"),
    ]:
        refused = client.get("/api/files", headers=headers, params=params)
        assert refused.status_code == status, (params, refused.text)
        assert refused.json()["field"] == field, (params, refused.text)
    other_sort = {"sort": "title", "cursor": first["next_cursor"], "order": "desc"}  # a cursor belongs to its sort
    refused = client.get("/api/files", headers=headers, params=other_sort)
    assert (refused.status_code, refused.json()["field"]) == (404, "cursor"), refused.text

    values = client.get("/api/files/filters", headers=headers)
    assert values.status_code == 200, values.text
    body = values.json()
    assert body["file_count"] == 3
    assert body["tags"] == [{"name": "blue", "file_count": 1}, {"name": "red", "file_count": 2}]
    assert (body["duration_min"], body["duration_max"]) == (30.0, 600.0)
    assert client.get("/api/files/filters", headers=register(client)).json()["file_count"] == 0
