"""Uploads as real clients send them: raw multipart bodies from Chromium and curl, names in every script, `filename*`,
long names, `application/octet-stream`, duplicates. Each name must come back exactly in the library, the file page,
exports (single and zip) and downloads."""

from __future__ import annotations

import io
import secrets
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from starlette.datastructures import Headers

from config.settings import Settings
from storage.backend import LocalStorage
from tests.media_fixtures import browser_recording, encoded
from tests.web import register, sign_up
from tests.workers_support import wav
from web.content_disposition import ascii_fallback, parse_part
from web.ranges import ranged_response

NAMES = [
    "会議の記録.wav",
    "🎙️.wav",
    "Besprechung-Müller.wav",
    "اجتماع الفريق.wav",
    "👩🏽‍💻 stand-up.wav",
    'Q3 "final" review.wav',
]


def recording(seconds: float = 0.5) -> bytes:
    """A WAV no other upload of the test shares (a duplicate would be refused)."""
    return wav(seconds + secrets.randbelow(10_000) / 100_000)


def body(parts: list[tuple[str, bytes]], boundary: str) -> bytes:
    """A multipart body from parts given as (header lines, content), byte for byte as the client writes it."""
    out = b""
    for headers, content in parts:
        out += f"--{boundary}\r\n".encode() + headers.encode() + b"\r\n\r\n" + content + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def chromium(name: str, data: bytes, content_type: str = "audio/wav") -> tuple[bytes, str]:
    """As Chromium's FormData sends a file: the name as raw UTF-8, a quote as %22 (the HTML form encoding)."""
    boundary = "----WebKitFormBoundary" + secrets.token_hex(8)
    escaped = name.replace('"', "%22")
    disposition = f'Content-Disposition: form-data; name="file"; filename="{escaped}"\r\nContent-Type: {content_type}'
    return body([(disposition, data)], boundary), f"multipart/form-data; boundary={boundary}"


def curl(name: str, data: bytes) -> tuple[bytes, str]:
    """As `curl -F file=@name` sends it: raw UTF-8, and application/octet-stream for a .wav."""
    boundary = "------------------------" + secrets.token_hex(8)
    disposition = (
        f'Content-Disposition: form-data; name="file"; filename="{name}"\r\nContent-Type: application/octet-stream'
    )
    return body([(disposition, data)], boundary), f"multipart/form-data; boundary={boundary}"


def send(client: Any, headers: dict[str, str], raw: tuple[bytes, str]) -> Any:
    content, content_type = raw
    return client.post("/api/files", headers={**headers, "Content-Type": content_type}, content=content)


def stored_files(settings: Settings) -> list[Path]:
    return [p for p in settings.storage_dir.rglob("*") if p.is_file()]


@pytest.mark.parametrize("name", NAMES)
def test_a_name_in_any_script_round_trips_from_chromium_into_the_library_and_downloads(client: Any, name: str) -> None:
    headers = register(client)
    created = send(client, headers, chromium(name, recording()))
    assert created.status_code == 201, created.text
    file = created.json()
    assert file["filename"] == name and file["content_type"] == "audio/wav"

    listed = client.get("/api/files", headers=headers).json()["items"]
    assert [item["filename"] for item in listed] == [name]
    assert client.get(f"/api/files/{file['uuid']}", headers=headers).json()["filename"] == name
    found = client.get("/api/files", headers=headers, params={"q": name[:3]}).json()["items"]
    assert [item["uuid"] for item in found] == [file["uuid"]]

    media = client.get(f"/api/files/{file['uuid']}/content", headers=headers)
    assert media.status_code == 200
    assert parse_part(media.headers["content-disposition"]).filename == name
    assert media.headers["content-disposition"].startswith(f'inline; filename="{ascii_fallback(name)}"')

    stem = name.removesuffix(".wav").replace('"', " ").strip()
    export = client.get(f"/api/files/{file['uuid']}/export", headers=headers, params={"format": "txt"})
    assert export.status_code == 200 and export.text.splitlines()[0] == name
    assert parse_part(export.headers["content-disposition"]).filename == " ".join(stem.split()) + ".txt"
    subtitles = client.get(f"/api/files/{file['uuid']}/subtitles", headers=headers, params={"format": "vtt"})
    assert parse_part(subtitles.headers["content-disposition"]).filename == " ".join(stem.split()) + ".vtt"


def test_curl_sends_octet_stream_and_raw_utf8_and_the_content_decides(client: Any, app_settings: Settings) -> None:
    headers = register(client)
    created = send(client, headers, curl("会議の記録.wav", recording()))
    assert created.status_code == 201, created.text
    assert created.json()["filename"] == "会議の記録.wav" and created.json()["content_type"] == "audio/wav"

    video = send(client, headers, curl("Vortrag.mkv", encoded("lecture.mkv").read_bytes()))
    assert video.status_code == 201 and video.json()["content_type"] == "video/x-matroska"
    voice = send(client, headers, curl("Sprachnotiz", encoded("voice.m4a").read_bytes()))
    assert voice.status_code == 201 and voice.json()["content_type"] == "audio/mp4"
    kinds = client.get("/api/files", headers=headers, params={"media_type": "video"}).json()["items"]
    assert [item["filename"] for item in kinds] == ["Vortrag.mkv"]


def test_a_recording_made_in_the_browser_is_accepted_as_audio_webm(client: Any, tmp_path: Path) -> None:
    """What the upload page's Record button sends: Opus in WebM without a stated length, as audio/webm (Chromium)
    or with codecs named; accepted, stored as audio/webm, its length read at processing."""
    headers = register(client)
    data = browser_recording(tmp_path / "recording.webm").read_bytes()
    created = send(client, headers, chromium("Recording 2026-12-07 14-03.webm", data, "audio/webm"))
    assert created.status_code == 201, created.text
    assert (created.json()["filename"], created.json()["content_type"]) == (
        "Recording 2026-12-07 14-03.webm",
        "audio/webm",
    )


def test_filename_star_as_older_clients_send_it(client: Any) -> None:
    headers = register(client)
    boundary = "b" + secrets.token_hex(6)
    name = "Besprechung-Müller 🎙️.wav"
    disposition = (
        f"Content-Disposition: form-data; name=\"file\"; filename*=utf-8''{quote(name)}\r\nContent-Type: audio/wav"
    )
    created = send(
        client, headers, (body([(disposition, recording())], boundary), f"multipart/form-data; boundary={boundary}")
    )
    assert created.status_code == 201, created.text
    assert created.json()["filename"] == name


def test_a_name_in_a_legacy_code_page_is_read_not_replaced(client: Any) -> None:
    headers = register(client)
    boundary = "b" + secrets.token_hex(6)
    disposition = 'Content-Disposition: form-data; name="file"; filename="Besprechung-M\xfcller.wav"'.encode("cp1252")
    content = (
        f"--{boundary}\r\n".encode()
        + disposition
        + b"\r\nContent-Type: audio/wav\r\n\r\n"
        + recording()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    created = send(client, headers, (content, f"multipart/form-data; boundary={boundary}"))
    assert created.status_code == 201 and created.json()["filename"] == "Besprechung-Müller.wav"


def test_a_name_over_255_characters_keeps_its_extension_and_is_accepted_as_octet_stream(
    client: Any, app_settings: Settings
) -> None:
    headers = register(client)
    name = "Sitzung des Ausschusses für Verkehr und digitale Infrastruktur 🎙️ " * 6 + ".wav"
    assert len(name) > 300
    created = send(client, headers, curl(name, recording()))
    assert created.status_code == 201, created.text
    stored = created.json()["filename"]
    stem = stored.removesuffix(".wav")
    assert stored.endswith(".wav") and 255 - 4 - 2 <= len(stem) <= 255 - 4
    assert name.startswith(stem), "the start of the name, whole graphemes only"
    assert created.json()["content_type"] == "audio/wav"


@pytest.mark.parametrize(
    ("data", "declared"),
    [
        (b"just some notes\n" * 20, "application/octet-stream"),
        (b"%PDF-1.7\n" + b"0" * 500, ""),
        (b"1\n00:00:00,000 --> 00:00:01,000\nHello\n", "text/plain"),
    ],
    ids=["text-as-octet-stream", "pdf-without-type", "srt-as-text"],
)
def test_what_is_not_media_is_a_415_naming_file_and_stores_nothing(
    client: Any, app_settings: Settings, data: bytes, declared: str
) -> None:
    headers = register(client)
    boundary = "b" + secrets.token_hex(6)
    type_line = f"\r\nContent-Type: {declared}" if declared else ""
    disposition = f'Content-Disposition: form-data; name="file"; filename="notes.wav"{type_line}'
    refused = send(
        client, headers, (body([(disposition, data)], boundary), f"multipart/form-data; boundary={boundary}")
    )
    assert refused.status_code == 415, refused.text
    assert refused.json()["field"] == "file"
    assert refused.json()["detail"].startswith("file: notes.wav is not an audio or video file (")
    assert not stored_files(app_settings)


def test_a_duplicate_names_and_links_the_existing_file(client: Any, app_settings: Settings) -> None:
    headers = register(client)
    data = recording()
    first = send(client, headers, chromium("会議の記録.wav", data)).json()
    client.put(f"/api/files/{first['uuid']}", headers=headers, json={"title": "Kick-off 🎉"})
    again = send(client, headers, chromium("copy.wav", data))
    assert again.status_code == 409
    refusal = again.json()
    assert refusal == {
        "detail": f"this file was already uploaded as “Kick-off 🎉” ({first['uuid']})",
        "field": "file",
        "existing_uuid": first["uuid"],
        "existing_url": f"/files/{first['uuid']}",
    }
    assert again.headers["location"] == f"/api/files/{first['uuid']}"
    assert client.get(again.headers["location"], headers=headers).json()["filename"] == "会議の記録.wav"
    assert len(stored_files(app_settings)) == 1, "nothing of the second upload stays"


def test_a_long_name_in_both_forms_fits_the_headers_and_a_monstrous_one_is_a_400(
    client: Any, app_settings: Settings
) -> None:
    headers = register(client)
    name = "会議の記録" * 200 + ".wav"  # 1,004 characters: 3 KB raw, 9 KB percent-encoded, together over 4 KB
    boundary = "b" + secrets.token_hex(6)
    disposition = (
        f'Content-Disposition: form-data; name="file"; filename="{name}"; filename*=UTF-8\'\'{quote(name)}\r\n'
        "Content-Type: audio/wav"
    )
    raw = (body([(disposition, recording())], boundary), f"multipart/form-data; boundary={boundary}")
    created = send(client, headers, raw)
    assert created.status_code == 201, created.text
    assert created.json()["filename"] == "会議の記録" * 50 + "会.wav"

    refused = send(client, headers, chromium("x" * 20_000 + ".wav", recording()))
    assert refused.status_code == 400 and refused.json() == {
        "detail": "body: malformed multipart data (Maximum header size exceeded)",
        "field": "body",
    }
    assert len(stored_files(app_settings)) == 1


def test_the_zip_export_keeps_every_name(client: Any) -> None:
    headers = register(client)
    uuids = []
    for title in ("会議の記録", "Besprechung-Müller", "🎙️ Interview", "会議の記録"):
        created = send(client, headers, chromium(f"{title}.wav", recording())).json()
        client.put(f"/api/files/{created['uuid']}", headers=headers, json={"title": title})
        uuids.append(created["uuid"])
    exported = client.post("/api/files/export", headers=headers, json={"file_uuids": uuids, "format": "srt"})
    assert exported.status_code == 200
    assert str(parse_part(exported.headers["content-disposition"]).filename).startswith("transcripts-")
    archive = zipfile.ZipFile(io.BytesIO(exported.content))
    assert archive.namelist() == [
        "会議の記録.srt",
        "Besprechung-Müller.srt",
        "🎙️ Interview.srt",
        "会議の記録 (2).srt",
    ]
    assert all(info.flag_bits & 0x800 for info in archive.infolist() if not info.filename.isascii())


def test_the_library_and_file_page_show_the_name_a_browser_sent(client: Any) -> None:
    csrf = sign_up(client)
    content, content_type = chromium("会議の記録 🎙️.wav", recording())
    created = client.post("/api/files", headers={"Content-Type": content_type, "X-CSRF-Token": csrf}, content=content)
    assert created.status_code == 201, created.text
    assert "会議の記録 🎙️.wav" in client.get("/").text
    page = client.get(f"/files/{created.json()['uuid']}").text
    assert "<h1>会議の記録 🎙️.wav</h1>" in page


def test_media_from_object_storage_names_itself_the_same_way(tmp_path: Path) -> None:
    """The S3 path streams ranges itself (web/ranges.py); its header is the local path's."""
    storage = LocalStorage(tmp_path)
    storage.put_bytes("1/abc", b"RIFF....")
    for request in (Headers({}), Headers({"range": "bytes=0-3"}), Headers({"range": "bytes=99-"})):
        response = ranged_response(storage, "1/abc", 8, "audio/wav", "会議の記録 🎙️.wav", request)
        disposition = response.headers["content-disposition"]
        assert disposition.startswith("inline; filename=\"download.wav\"; filename*=UTF-8''")
        assert parse_part(disposition).filename == "会議の記録 🎙️.wav"
