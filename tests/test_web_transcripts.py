"""The transcript route: its body is the response model's serialization, ETag/304, compression, time windows."""

from __future__ import annotations

import gzip
import json
import secrets
from typing import Any
from uuid import UUID

import psycopg
from pydantic import TypeAdapter

from repo.rows import Actor
from repo.segments import SegmentRepository
from repo.transcript_staging import TranscriptStaging
from tests import factories
from tests.web import register, signed_in
from tests.workers_support import whisperx
from transcript.segments import Segment, Word
from transcript.sidecars import parse_sidecar
from web.transcripts import SegmentOut

MODEL = TypeAdapter(list[SegmentOut])
IDENTITY = {"Accept-Encoding": "identity"}
WORDS = [{"word": "Hi", "start": 0.1, "end": 0.4, "score": 0.9}, {"word": '"there" <ü>', "start": 0.5, "end": 1e-7}]
TIMED = (Word("Hi", 0.1, 0.4, 0.9), Word('"there" <ü>', 0.5, 1e-7))  # WORDS as an engine hands them over


def model_serialized(url: str, owner: Actor, file_uuid: str) -> list[dict[str, Any]]:
    """The transcript read as rows and serialized through the declared response model, as pydantic would."""
    with psycopg.connect(url) as conn:
        rows = SegmentRepository(conn).transcript(owner, UUID(file_uuid))
    return MODEL.dump_python(MODEL.validate_python(rows, from_attributes=True), mode="json")  # type: ignore[no-any-return]


def served(client: Any, headers: dict[str, str], file_uuid: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/files/{file_uuid}/transcript", headers={**headers, **IDENTITY})
    assert response.status_code == 200, response.text
    MODEL.validate_json(response.content)  # what is sent is what the route declares
    return response.json()  # type: ignore[no-any-return]


def assert_field_by_field(got: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    assert len(got) == len(expected) > 0
    for mine, theirs in zip(got, expected, strict=True):
        assert list(mine) == list(theirs)  # the same fields, in the same order
        for field in theirs:
            assert mine[field] == theirs[field], field


def sidecar_file(url: str, owner: Actor) -> tuple[int, str]:
    """A file whose transcript came from a WhisperX sidecar, stored as the worker stores it."""
    parsed = parse_sidecar(
        whisperx(
            [
                {"start": 0.1, "end": 0.9, "text": ' Hi "there" <ü>', "speaker": "SPEAKER_00", "words": WORDS},
                {"start": 1.0, "end": 2.5, "text": "No words, no speaker"},
                {"start": 2.5, "end": 4.0, "text": "Back\\nslash \u2028 ✓", "speaker": "SPEAKER_01", "words": []},
            ]
        )
    )
    with psycopg.connect(url, autocommit=True) as conn:
        file_id, file_uuid = factories.media_file(conn, owner, status="completed")
        SegmentRepository(conn).replace_transcript(file_id, parsed)  # as the worker stores them
    return file_id, str(file_uuid)


def engine_file(url: str, owner: Actor) -> tuple[int, str]:
    """A file whose transcript an engine produced: staged in batches by its task, then published."""
    with psycopg.connect(url, autocommit=True) as conn:
        file_id, file_uuid = factories.media_file(conn, owner, status="completed")
        task_id = f"process-{secrets.token_hex(6)}"
        conn.execute(
            "INSERT INTO tasks (id, user_id, media_file_id, task_type) VALUES (%s, %s, %s, 'transcription')",
            [task_id, owner.id, file_id],
        )
        staging = TranscriptStaging(conn, task_id)
        seq = staging.stage(0, [Segment(0.0, 1.0, "first", "SPEAKER_00", TIMED), Segment(1.0, 2.0, "second")])
        seq = staging.stage(seq, [Segment(2.0, 3.5, "third", "SPEAKER_01", (Word("third", 2.0),))])
        staging.stage(seq, [Segment(0.0, 1.0, "first", "SPEAKER_00", (Word("a repeat"),))])  # kept once
        with conn.transaction():
            staging.publish(file_id)
    return file_id, str(file_uuid)


def test_a_sidecar_transcript_is_the_model_serialized_transcript_field_by_field(client: Any, fresh_url: str) -> None:
    headers, owner = signed_in(client, fresh_url)
    _, file_uuid = sidecar_file(fresh_url, owner)
    body = served(client, headers, file_uuid)
    assert_field_by_field(body, model_serialized(fresh_url, owner, file_uuid))
    assert body[0]["words"] == WORDS and body[1]["words"] is None and body[2]["words"] is None  # [] is no words


def test_an_engine_transcript_is_the_model_serialized_transcript_field_by_field(client: Any, fresh_url: str) -> None:
    headers, owner = signed_in(client, fresh_url)
    _, file_uuid = engine_file(fresh_url, owner)
    body = served(client, headers, file_uuid)
    assert_field_by_field(body, model_serialized(fresh_url, owner, file_uuid))
    assert [s["text"] for s in body] == ["first", "second", "third"]
    assert body[0]["words"] == WORDS and body[1]["words"] is None  # the first of the repeats, with its words


def _edits(client: Any, headers: dict[str, str], file_uuid: str) -> list[tuple[str, Any]]:
    """Every kind of edit, as (name, a function that makes it)."""
    first = served(client, headers, file_uuid)
    segment = first[0]["uuid"]
    speakers = {s["label"]: s["uuid"] for s in client.get(f"/api/files/{file_uuid}/speakers", headers=headers).json()}
    put = f"/api/files/{file_uuid}/transcript/segments/{segment}"
    return [
        ("text", lambda: client.put(put, headers=headers, json={"text": "Edited ✓"})),
        ("times", lambda: client.put(put, headers=headers, json={"start_time": 0.05, "end_time": 0.95})),
        ("speaker", lambda: client.put(put, headers=headers, json={"speaker_uuid": speakers["SPEAKER_01"]})),
        ("rename", lambda: client.put(f"/api/speakers/{speakers['SPEAKER_01']}", headers=headers,
                                      json={"display_name": "Bea"})),
        ("merge", lambda: client.post(f"/api/files/{file_uuid}/speakers/merge", headers=headers,
                                      json={"source_uuid": speakers["SPEAKER_00"],
                                            "target_uuid": speakers["SPEAKER_01"]})),
    ]  # fmt: skip


def test_after_every_edit_the_body_is_still_the_model_serialized_transcript(client: Any, fresh_url: str) -> None:
    headers, owner = signed_in(client, fresh_url)
    _, file_uuid = sidecar_file(fresh_url, owner)
    for name, edit in _edits(client, headers, file_uuid):
        served(client, headers, file_uuid)  # cached before the edit
        assert edit().status_code == 200, name
        body = served(client, headers, file_uuid)
        assert_field_by_field(body, model_serialized(fresh_url, owner, file_uuid))
    assert body[0]["text"] == "Edited ✓" and body[0]["start_time"] == 0.05
    assert {s["speaker_name"] for s in body if s["speaker_uuid"]} == {"Bea"}


def test_every_edit_changes_the_etag_and_the_old_one_no_longer_gets_304(client: Any, fresh_url: str) -> None:
    headers, owner = signed_in(client, fresh_url)
    _, file_uuid = sidecar_file(fresh_url, owner)
    path = f"/api/files/{file_uuid}/transcript"
    seen: list[str] = []
    for name, edit in _edits(client, headers, file_uuid):
        etag = client.get(path, headers=headers).headers["etag"]
        again = client.get(path, headers={**headers, "If-None-Match": etag})
        assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag, name
        assert edit().status_code == 200, name
        stale = client.get(path, headers={**headers, "If-None-Match": etag})
        assert stale.status_code == 200 and stale.headers["etag"] != etag, name
        assert stale.json() == model_serialized(fresh_url, owner, file_uuid), name
        seen.append(etag)
    assert len(set(seen)) == len(seen)


def test_replacing_the_transcript_changes_the_etag(client: Any, fresh_url: str) -> None:
    headers, owner = signed_in(client, fresh_url)
    file_id, file_uuid = sidecar_file(fresh_url, owner)
    path = f"/api/files/{file_uuid}/transcript"
    etag = client.get(path, headers=headers).headers["etag"]
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        SegmentRepository(conn).replace_transcript(file_id, [Segment(0.0, 1.0, "anew")])
    renewed = client.get(path, headers={**headers, "If-None-Match": etag})
    assert renewed.status_code == 200 and [s["text"] for s in renewed.json()] == ["anew"]


def test_another_users_etag_never_gets_304(client: Any, fresh_url: str) -> None:
    alice, alice_actor = signed_in(client, fresh_url)
    bob, bob_actor = signed_in(client, fresh_url)
    _, alices = sidecar_file(fresh_url, alice_actor)
    _, bobs = sidecar_file(fresh_url, bob_actor)
    alices_etag = client.get(f"/api/files/{alices}/transcript", headers=alice).headers["etag"]
    assert (
        client.get(f"/api/files/{alices}/transcript", headers={**bob, "If-None-Match": alices_etag}).status_code == 404
    )
    own = client.get(f"/api/files/{bobs}/transcript", headers={**bob, "If-None-Match": alices_etag})
    assert own.status_code == 200 and own.headers["etag"] != alices_etag
    assert client.get(f"/api/files/{alices}/transcript", headers={"If-None-Match": alices_etag}).status_code == 401


def _raw(client: Any, path: str, headers: dict[str, str]) -> tuple[dict[str, str], bytes]:
    with client.stream("GET", path, headers=headers) as response:
        assert response.status_code == 200
        return dict(response.headers), b"".join(response.iter_raw())


def test_compressed_and_uncompressed_bodies_decode_to_the_same_json(client: Any, fresh_url: str) -> None:
    headers, owner = signed_in(client, fresh_url)
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        for _ in range(4):  # enough files and hits for a search answer and a file list over 1 KB
            file_id, file_uuid = factories.media_file(conn, owner, status="completed", title="budget talk")
            SegmentRepository(conn).replace_transcript(
                file_id,
                [Segment(i * 2.0, i * 2.0 + 1.5, f"budget line {i}", "SPEAKER_00", TIMED) for i in range(300)],
            )
    for path in (f"/api/files/{file_uuid}/transcript", "/api/search?q=budget", "/api/files?limit=50"):
        for _ in range(2):  # the transcript's second answer comes from the cache
            plain_headers, plain = _raw(client, path, {**headers, **IDENTITY})
            packed_headers, packed = _raw(client, path, {**headers, "Accept-Encoding": "gzip"})
            assert "content-encoding" not in plain_headers, path
            assert packed_headers.get("content-encoding") == "gzip", (path, len(plain))
            assert len(packed) < len(plain) / 3, path
            assert json.loads(gzip.decompress(packed)) == json.loads(plain), path
            assert "Accept-Encoding" in packed_headers["vary"], path
    refused = _raw(client, f"/api/files/{file_uuid}/transcript", {**headers, "Accept-Encoding": "br"})
    assert "content-encoding" not in refused[0]
    small_headers, _ = _raw(client, "/api/users/me", {**headers, "Accept-Encoding": "gzip"})
    assert "content-encoding" not in small_headers  # under 1 KB: sent as it is


def test_a_time_window_keeps_the_overlapping_segments(client: Any, fresh_url: str) -> None:
    headers, owner = signed_in(client, fresh_url)
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        file_id, file_uuid = factories.media_file(conn, owner, status="completed")
        SegmentRepository(conn).replace_transcript(
            file_id, [Segment(i * 10.0, i * 10.0 + 8.0, f"part {i}") for i in range(10)]
        )
    path = f"/api/files/{file_uuid}/transcript"

    def texts(**params: float) -> list[str]:
        response = client.get(path, headers=headers, params=params)
        assert response.status_code == 200, response.text
        return [s["text"] for s in response.json()]

    assert texts(from_time=25, to_time=50) == ["part 2", "part 3", "part 4"]  # 20-28 overlaps, 50-58 starts at 50
    assert texts(from_time=88) == ["part 8", "part 9"]
    assert texts(to_time=10) == ["part 0"]
    assert texts(from_time=500) == []
    whole = client.get(path, headers=headers)
    window = client.get(path, headers=headers, params={"from_time": 25, "to_time": 50})
    assert window.headers["etag"] != whole.headers["etag"]
    assert client.get(path, headers={**headers, "If-None-Match": window.headers["etag"]}).status_code == 200
    repeat = client.get(
        path, headers={**headers, "If-None-Match": window.headers["etag"]}, params={"from_time": 25, "to_time": 50}
    )
    assert repeat.status_code == 304


def test_bad_windows_name_the_field(client: Any) -> None:
    headers = register(client)
    path = f"/api/files/{UUID(int=1)}/transcript"
    for params, status, field in (
        ({"from_time": -1}, 422, "from_time"),
        ({"to_time": "soon"}, 422, "to_time"),
        ({"from_time": "nan"}, 422, "from_time"),
        ({"from_time": 5, "to_time": 5}, 409, "to_time"),  # each allowed alone: a conflict between the two
        ({"page": 2}, 422, "page"),
    ):
        response = client.get(path, headers=headers, params=params)
        assert response.status_code == status and response.json()["field"] == field, (params, response.text)
