"""/api/files/{uuid}/translations and /api/translations/{uuid} through HTTP: requesting (the job really queued in
RQ), reading side by side, exports in the translated language with the original timings, stale after an edit and
re-done on request. The worker's side is tests/test_worker_translation.py."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote
from uuid import UUID

import psycopg
import pytest
from redis import Redis
from rq import Queue

from jobs.queues import SUMMARIES
from repo.llm_runs import LlmRunRepository
from repo.rows import Actor
from repo.segments import SegmentRepository
from repo.translations import TranslationRepository
from tests import factories
from tests.web import actor_of, register
from transcript.segments import Segment

UNKNOWN = "00000000-0000-4000-8000-000000000000"
# (start, end, speaker, original, translation): Japanese, Arabic, emoji, umlauts
SEGMENTS = [
    (1.5, 4.25, "SPEAKER_00", "Let's start the meeting.", "会議を始めましょう。"),
    (4.25, 6.0, "SPEAKER_01", "Hello everyone.", "مرحبا بالجميع"),
    (6.0, 8.125, "SPEAKER_00", "Done 🎉 — Grüße", "完了 🎉 — Grüße"),
]


def new_config(client: Any, headers: dict[str, str], name: str = "Local", activate: bool = True) -> str:
    body = {"name": name, "provider": "ollama", "model_name": f"model-{name}", "base_url": "http://127.0.0.1:9"}
    uuid: str = client.post("/api/llm-configs", headers=headers, json=body).json()["uuid"]
    if activate:
        assert client.post(f"/api/llm-configs/{uuid}/activate", headers=headers).status_code == 200
    return uuid


def transcribed(client: Any, fresh_url: str, headers: dict[str, str], filename: str = "会議.wav") -> tuple[int, str]:
    """A completed file with SEGMENTS, SPEAKER_00 named Alice and SPEAKER_01 Bob; (id, uuid)."""
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        owner = actor_of(client, fresh_url, headers)
        file_id, file_uuid = factories.media_file(conn, owner, filename=filename, status="completed")
        SegmentRepository(conn).replace_transcript(
            file_id, [Segment(a, b, text, who) for a, b, who, text, _ in SEGMENTS]
        )
        for label, name in (("SPEAKER_00", "Alice"), ("SPEAKER_01", "Bob")):
            conn.execute(
                "UPDATE speakers SET display_name = %s WHERE media_file_id = %s AND label = %s", (name, file_id, label)
            )
    return file_id, str(file_uuid)


def translated(fresh_url: str, owner: Actor, file_id: int, config_uuid: str, language: str = "ja") -> str:
    """A completed translation of SEGMENTS, written as its job writes one (start, store, complete)."""
    with psycopg.connect(fresh_url, autocommit=True) as conn, conn.transaction():
        [(config_id,)] = conn.execute(
            "SELECT id FROM user_llm_configurations WHERE uuid = %s", [config_uuid]
        ).fetchall()
        runs = LlmRunRepository(conn)
        run = runs.create(owner, "translation", file_id, config_id, language=language)
        runs.start(run.id)
        segments = conn.execute(
            "SELECT uuid FROM transcript_segments WHERE media_file_id = %s ORDER BY start_time", [file_id]
        ).fetchall()
        pairs = [(uuid, seg[4]) for (uuid,), seg in zip(segments, SEGMENTS, strict=True)]
        assert TranslationRepository(conn).store(run.id, pairs) == len(SEGMENTS)
        runs.complete(run.id, "raw answers")
    return str(run.uuid)


def test_a_translation_is_requested_and_queued(client: Any, fresh_url: str) -> None:
    headers = register(client)
    _, file_uuid = transcribed(client, fresh_url, headers)
    new_config(client, headers)

    response = client.post(f"/api/files/{file_uuid}/translations", headers=headers, json={"language": "ja"})

    assert response.status_code == 202, response.text
    run = response.json()
    assert (run["kind"], run["status"], run["language"], run["language_name"]) == (
        "translation",
        "pending",
        "ja",
        "Japanese",
    )
    assert run["provider"] == "ollama" and run["model_name"] == "model-Local" and run["stale"] is False
    assert run["task_id"] == f"translation-{run['uuid']}"
    assert run["task_id"] in Queue(SUMMARIES, connection=Redis.from_url(client.app.state.services.redis_url)).job_ids
    listed = client.get(f"/api/files/{file_uuid}/translations", headers=headers).json()
    assert [(t["uuid"], t["language"], t["status"]) for t in listed] == [(run["uuid"], "ja", "pending")]
    # a pending translation has nothing to export yet
    export = client.get(f"/api/translations/{run['uuid']}/export?format=srt", headers=headers)
    assert (export.status_code, export.json()["field"]) == (409, "status")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"language": "xx"}, "language"),
        ({"language": "japanese"}, "language"),
        ({}, "language"),
        ({"language": "ja", "llm_config_uuid": "nope"}, "llm_config_uuid"),
        ({"language": "ja", "model": "gpt"}, "model"),
    ],
)
def test_a_malformed_request_names_the_field(client: Any, fresh_url: str, body: dict[str, Any], field: str) -> None:
    headers = register(client)
    _, file_uuid = transcribed(client, fresh_url, headers)
    new_config(client, headers)

    response = client.post(f"/api/files/{file_uuid}/translations", headers=headers, json=body)

    assert (response.status_code, response.json()["field"]) == (422, field)
    assert client.get(f"/api/files/{file_uuid}/translations", headers=headers).json() == []


def test_without_an_active_configuration_the_request_is_a_conflict(client: Any, fresh_url: str) -> None:
    headers = register(client)
    _, file_uuid = transcribed(client, fresh_url, headers)
    new_config(client, headers, activate=False)

    response = client.post(f"/api/files/{file_uuid}/translations", headers=headers, json={"language": "de"})

    assert (response.status_code, response.json()["field"]) == (409, "llm_config_uuid")
    assert "no active LLM configuration" in response.json()["detail"]


def test_a_viewer_may_not_translate_and_a_stranger_does_not_see_the_file(client: Any, fresh_url: str) -> None:
    owner = register(client)
    file_id, file_uuid = transcribed(client, fresh_url, owner)
    config = new_config(client, owner)
    done = translated(fresh_url, actor_of(client, fresh_url, owner), file_id, config)
    viewer, stranger = register(client), register(client)
    for headers in (viewer, stranger):
        new_config(client, headers)
    viewer_email = client.get("/api/users/me", headers=viewer).json()["email"]
    shared = client.post(
        f"/api/files/{file_uuid}/shares", headers=owner, json={"user_email": viewer_email, "role": "viewer"}
    )
    assert shared.status_code == 200, shared.text

    assert (
        client.post(f"/api/files/{file_uuid}/translations", headers=viewer, json={"language": "ja"}).status_code == 403
    )
    assert client.post(f"/api/translations/{done}/redo", headers=viewer, json={}).status_code == 403
    assert client.get(f"/api/translations/{done}/export", headers=viewer).status_code == 200  # a viewer reads it
    for path in (f"/api/files/{file_uuid}/translations", f"/api/files/{UNKNOWN}/translations"):
        assert client.post(path, headers=stranger, json={"language": "ja"}).status_code == 404
        assert client.get(path, headers=stranger).status_code == 404
    for path in (f"/api/translations/{done}", f"/api/translations/{done}/export", f"/api/translations/{UNKNOWN}"):
        assert client.get(path, headers=stranger).status_code == 404
    assert client.post(f"/api/translations/{done}/redo", headers=stranger, json={}).status_code == 404


def test_a_translation_reads_side_by_side_with_the_transcript(client: Any, fresh_url: str) -> None:
    headers = register(client)
    file_id, file_uuid = transcribed(client, fresh_url, headers)
    done = translated(fresh_url, actor_of(client, fresh_url, headers), file_id, new_config(client, headers), "ja")

    response = client.get(f"/api/translations/{done}", headers=headers)

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["run"]["uuid"], body["run"]["status"], body["run"]["language"]) == (done, "completed", "ja")
    assert [
        (s["start_time"], s["end_time"], s["speaker_name"], s["original"], s["translated"]) for s in body["segments"]
    ] == [(a, b, {"SPEAKER_00": "Alice", "SPEAKER_01": "Bob"}[who], o, t) for a, b, who, o, t in SEGMENTS]
    transcript = client.get(f"/api/files/{file_uuid}/transcript", headers=headers).json()
    assert [s["segment_uuid"] for s in body["segments"]] == [s["uuid"] for s in transcript]


def test_exports_carry_the_translation_with_the_original_timings(client: Any, fresh_url: str) -> None:
    headers = register(client)
    file_id, _ = transcribed(client, fresh_url, headers)
    done = translated(fresh_url, actor_of(client, fresh_url, headers), file_id, new_config(client, headers), "ja")

    srt = client.get(f"/api/translations/{done}/export?format=srt", headers=headers)
    vtt = client.get(f"/api/translations/{done}/export?format=vtt", headers=headers)
    txt = client.get(f"/api/translations/{done}/export?format=txt", headers=headers)
    bare = client.get(f"/api/translations/{done}/export?format=srt&speakers=false", headers=headers)

    assert srt.status_code == 200 and srt.headers["content-type"] == "application/x-subrip"
    assert srt.content.decode() == (
        "1\n00:00:01,500 --> 00:00:04,250\nAlice: 会議を始めましょう。\n\n"
        "2\n00:00:04,250 --> 00:00:06,000\nBob: مرحبا بالجميع\n\n"
        "3\n00:00:06,000 --> 00:00:08,125\nAlice: 完了 🎉 — Grüße\n\n"
    )
    assert bare.content.decode().split("\n")[2] == "会議を始めましょう。"
    assert vtt.status_code == 200 and vtt.headers["content-type"] == "text/vtt; charset=utf-8"
    assert vtt.content.decode() == (
        "WEBVTT\n\n"
        "00:00:01.500 --> 00:00:04.250\nAlice: 会議を始めましょう。\n\n"
        "00:00:04.250 --> 00:00:06.000\nBob: مرحبا بالجميع\n\n"
        "00:00:06.000 --> 00:00:08.125\nAlice: 完了 🎉 — Grüße\n\n"
    )
    assert txt.content.decode() == (
        "会議.wav\n\n"
        "[00:00:01] Alice: 会議を始めましょう。\n"
        "[00:00:04] Bob: مرحبا بالجميع\n"
        "[00:00:06] Alice: 完了 🎉 — Grüße\n"
    )
    for response, extension in ((srt, "srt"), (vtt, "vtt"), (txt, "txt")):
        disposition = response.headers["content-disposition"]
        assert disposition.startswith("attachment; ")
        assert disposition.endswith(f"filename*=UTF-8''{quote('会議.ja.' + extension)}")
    bad = client.get(f"/api/translations/{done}/export?format=docx", headers=headers)
    assert (bad.status_code, bad.json()["field"]) == (422, "format")


def test_an_edit_makes_a_translation_stale_and_redo_queues_a_new_one(client: Any, fresh_url: str) -> None:
    headers = register(client)
    file_id, file_uuid = transcribed(client, fresh_url, headers)
    config = new_config(client, headers)
    done = translated(fresh_url, actor_of(client, fresh_url, headers), file_id, config, "ar")
    assert [t["stale"] for t in client.get(f"/api/files/{file_uuid}/translations", headers=headers).json()] == [False]
    segment = client.get(f"/api/files/{file_uuid}/transcript", headers=headers).json()[1]

    edited = client.put(
        f"/api/files/{file_uuid}/transcript/segments/{segment['uuid']}", headers=headers, json={"text": "Hi all."}
    )
    assert edited.status_code == 200, edited.text

    [stale] = client.get(f"/api/files/{file_uuid}/translations", headers=headers).json()
    assert (stale["uuid"], stale["stale"]) == (done, True)
    side = client.get(f"/api/translations/{done}", headers=headers).json()["segments"][1]
    assert (side["original"], side["translated"]) == ("Hi all.", "مرحبا بالجميع")  # the old translation, until redone

    redo = client.post(f"/api/translations/{done}/redo", headers=headers, json={})

    assert redo.status_code == 202, redo.text
    again = redo.json()
    assert (again["kind"], again["status"], again["language"], again["stale"]) == (
        "translation",
        "pending",
        "ar",
        False,
    )
    assert again["uuid"] != done
    assert again["task_id"] in Queue(SUMMARIES, connection=Redis.from_url(client.app.state.services.redis_url)).job_ids
    listed = client.get(f"/api/files/{file_uuid}/translations", headers=headers).json()
    assert [(t["uuid"], t["status"]) for t in listed] == [(again["uuid"], "pending"), (done, "completed")]
    with psycopg.connect(fresh_url) as conn:
        [(used,)] = conn.execute(
            "SELECT c.uuid FROM llm_runs r JOIN user_llm_configurations c ON c.id = r.llm_configuration_id "
            "WHERE r.uuid = %s",
            [UUID(again["uuid"])],
        ).fetchall()
    assert str(used) == config  # the configuration it was made with


def test_a_deleted_translation_goes_with_its_texts(client: Any, fresh_url: str) -> None:
    headers = register(client)
    file_id, file_uuid = transcribed(client, fresh_url, headers)
    done = translated(fresh_url, actor_of(client, fresh_url, headers), file_id, new_config(client, headers))

    assert client.delete(f"/api/llm-runs/{done}", headers=headers).status_code == 204

    assert client.get(f"/api/translations/{done}", headers=headers).status_code == 404
    assert client.get(f"/api/files/{file_uuid}/translations", headers=headers).json() == []
    with psycopg.connect(fresh_url) as conn:
        assert conn.execute("SELECT count(*) FROM translated_segments").fetchall() == [(0,)]
