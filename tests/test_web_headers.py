"""Headers every response carries (web/headers.py): `X-Content-Type-Options: nosniff` once on every kind of
response, and `Vary` naming each header once (the transcript says `Vary: Accept-Encoding` itself and the gzip
middleware used to add it a second time)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from config.settings import Settings
from repo.segments import SegmentRepository
from tests import factories
from tests.web import actor_of, sign_up
from tests.workers_support import wav
from transcript.segments import Segment
from web.app import create_app
from web.headers import vary_once


def _nosniff_once(response: Any) -> bool:
    return bool(response.headers.get_list("x-content-type-options") == ["nosniff"])


def test_every_kind_of_response_says_nosniff(client: Any, fresh_url: str) -> None:
    token = sign_up(client)
    csrf = {"X-CSRF-Token": token}
    uploaded = client.post("/api/files", files={"file": ("Grüße.wav", wav(1.0), "audio/wav")}, headers=csrf)
    assert uploaded.status_code == 201, uploaded.text
    content = f"/api/files/{uploaded.json()['uuid']}/content"
    responses = {
        "API JSON": client.get("/api/users/me"),
        "API 201": uploaded,
        "API 404": client.get("/api/files/00000000-0000-0000-0000-000000000000"),
        "API 422": client.get("/api/files/not-a-uuid"),
        "API 403 (no CSRF header)": client.put("/api/users/me", json={"full_name": "Mallory"}),
        "API 405": client.delete("/api/files"),
        "unknown API path": client.get("/api/no/such/route"),
        "health": client.get("/api/health"),
        "media": client.get(content),
        "media range": client.get(content, headers={"Range": "bytes=0-11"}),
        "media range outside": client.get(content, headers={"Range": "bytes=999999999-"}),
        "static file": client.get("/static/app.css"),
        "page": client.get("/"),
        "HEAD of a page": client.head("/"),
        "page 404": client.get("/files/00000000-0000-0000-0000-000000000000"),
        "unknown page": client.get("/no/such/page"),
        "form post redirect": client.post(
            "/collections/new", data={"csrf": token, "name": "Team"}, follow_redirects=False
        ),
        "form refused": client.post("/collections/new", data={"name": "Team"}),
        "redirect of a signed-in visitor": client.get("/signin", follow_redirects=False),
        "OpenAPI document": client.get("/api/openapi.json"),
        "API docs": client.get("/api/docs"),
    }
    client.cookies.clear()
    responses["API 401"] = client.get("/api/users/me")
    responses["sign-in redirect"] = client.get("/settings", follow_redirects=False)
    expected = {"media": 200, "media range": 206, "media range outside": 416, "API 422": 422, "API 405": 405}
    expected |= {"form post redirect": 303, "form refused": 403, "sign-in redirect": 303, "API 401": 401}
    expected |= {"redirect of a signed-in visitor": 303, "unknown page": 404, "page 404": 404}
    for name, status in expected.items():
        assert responses[name].status_code == status, name
    missing = [name for name, response in responses.items() if not _nosniff_once(response)]
    assert missing == []


def test_a_server_error_outside_the_pipeline_says_nosniff_too(app_settings: Settings) -> None:
    async def broken(request: Request) -> Response:
        raise RuntimeError("a bug in a route of its own")

    app = create_app(app_settings, extra_routes=[Route("/api/test/broken", broken)])
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/api/test/broken")
    assert response.status_code == 500 and _nosniff_once(response)


def _long_transcript(conninfo: str, owner: Any, lines: int) -> str:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        file_id, file_uuid = factories.media_file(conn, owner, status="completed")
        SegmentRepository(conn).replace_transcript(
            file_id, [Segment(i * 2.0, i * 2.0 + 1.5, f"Zeile {i}: Grüße 🎙️", "SPEAKER_00") for i in range(lines)]
        )
    return str(file_uuid)


@pytest.mark.parametrize("lines", [6, 300])  # ~1.2 KB (gzipped by the middleware), ~60 KB (by the transcript)
def test_a_transcript_names_accept_encoding_once_in_vary(client: Any, fresh_url: str, lines: int) -> None:
    sign_up(client)
    file_uuid = _long_transcript(fresh_url, actor_of(client, fresh_url, {}), lines)
    path = f"/api/files/{file_uuid}/transcript"
    for _ in range(2):  # the second answers come from the transcript cache
        for encoding in ("gzip", "identity"):
            with client.stream("GET", path, headers={"Accept-Encoding": encoding}) as response:
                assert response.status_code == 200
                assert len(b"".join(response.iter_raw())) > 0
                assert response.headers.get_list("vary") == ["Accept-Encoding"], (lines, encoding)
                assert _nosniff_once(response)
    etag = client.get(path).headers["etag"]
    unchanged = client.get(path, headers={"If-None-Match": etag, "Accept-Encoding": "gzip"})
    assert unchanged.status_code == 304 and unchanged.headers.get_list("vary") == ["Accept-Encoding"]


def test_vary_values_are_merged_name_by_name() -> None:
    assert vary_once(["Accept-Encoding, Accept-Encoding"]) == "Accept-Encoding"
    assert vary_once(["Accept-Encoding", "accept-encoding, Cookie"]) == "Accept-Encoding, Cookie"
    assert vary_once(["Cookie", "*"]) == "*"
