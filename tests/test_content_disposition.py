"""The Content-Disposition header: file names in as clients send them, download names out (web/content_disposition)."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from web.content_disposition import ascii_fallback, decode_header, download_name, header, parse_part

pytestmark = pytest.mark.same_on_every_server  # reaches no server DATABASE_URL / REDIS_URL name (see conftest)

NAMES = ["会議の記録.wav", "🎙️.wav", "Besprechung-Müller.wav", "اجتماع الفريق.m4a", "👩‍💻 stand-up.webm", "plain.wav"]


@pytest.mark.parametrize("name", NAMES)
def test_raw_utf8_inside_filename_as_chromium_and_curl_send_it(name: str) -> None:
    raw = f'form-data; name="file"; filename="{name}"'.encode()
    assert parse_part(decode_header(raw)).filename == name


@pytest.mark.parametrize("name", NAMES)
def test_rfc5987_filename_star_wins_over_a_plain_fallback(name: str) -> None:
    value = f'form-data; name="file"; filename="fallback.wav"; filename*=UTF-8\'\'{quote(name)}'
    assert parse_part(value) == parse_part(value.replace('filename="fallback.wav"; ', "")) != parse_part("")
    assert parse_part(value).filename == name and parse_part(value).name == "file"


def test_filename_star_in_latin1_and_lower_case_charset() -> None:
    assert parse_part("form-data; name=file; filename*=iso-8859-1''M%FCller.wav").filename == "Müller.wav"
    assert parse_part("form-data; name=file; filename*=utf-8'de'M%C3%BCller.wav").filename == "Müller.wav"
    assert parse_part("form-data; name=file; filename*=x-unknown''M%C3%BCller.wav").filename == "Müller.wav"


def test_rfc2231_continuations_are_joined() -> None:
    value = "form-data; name=file; filename*0*=UTF-8''%E4%BC%9A%E8%AD%B0; filename*1=-notes; filename*2*=.wav"
    assert parse_part(value).filename == "会議-notes.wav"


def test_bytes_that_are_not_utf8_are_read_as_windows_1252() -> None:
    raw = b'form-data; name="file"; filename="M\xfcller \x80.wav"'
    assert parse_part(decode_header(raw)).filename == "Müller €.wav"


def test_quotes_semicolons_and_escapes_inside_the_quoted_name() -> None:
    assert parse_part('form-data; name="file"; filename="a; name=b.wav"') == parse_part(
        'form-data; filename="a; name=b.wav"; name="file"'
    )
    assert parse_part('form-data; name="file"; filename="a; name=b.wav"').filename == "a; name=b.wav"
    # browsers write a quote in a name as %22; curl escapes it with a backslash
    assert parse_part('form-data; name="file"; filename="say %22hi%22.wav"').filename == 'say "hi".wav'
    assert parse_part(r'form-data; name="file"; filename="say \"hi\".wav"').filename == 'say "hi".wav'
    assert parse_part(r'form-data; name="file"; filename="C:\Users\pat\talk.wav"').filename == r"C:\Users\pat\talk.wav"


def test_a_part_without_filename_and_a_name_in_another_case() -> None:
    assert parse_part('form-data; NAME="title"').filename is None
    assert parse_part('form-data; NAME="title"').name == "title"
    assert parse_part("").name == ""


@pytest.mark.parametrize(
    ("name", "fallback"),
    [
        ("Besprechung-Müller.wav", "Besprechung-Muller.wav"),
        ("会議の記録.wav", "download.wav"),
        ("🎙️", "download"),
        ('say "hi"; 100%.txt', "say _hi_ 100.txt"),
        ("Café\nnoir.srt", "Cafe_noir.srt"),
    ],
)
def test_the_ascii_fallback_keeps_what_it_can_and_the_extension(name: str, fallback: str) -> None:
    assert ascii_fallback(name) == fallback


@pytest.mark.parametrize("name", NAMES)
def test_a_download_header_has_an_ascii_fallback_and_the_exact_name(name: str) -> None:
    value = header("attachment", name)
    value.encode("latin-1")  # a header value must be sendable as it is
    assert value.startswith(f"attachment; filename=\"{ascii_fallback(name)}\"; filename*=UTF-8''")
    assert parse_part(value).filename == name, "what we send reads back as the same name"


def test_download_names_come_from_the_title_in_any_script_and_fit() -> None:
    assert download_name("会議の記録 2024/05", "x.wav", "srt") == "会議の記録 2024 05.srt"
    assert download_name(None, "Besprechung-Müller.wav", "txt") == "Besprechung-Müller.txt"
    assert download_name(" .. ", "x.wav", "txt") == "transcript.txt"
    long = download_name("🎙️" * 80, "x.wav", "vtt")
    assert long == "🎙️" * 50 + ".vtt", "cut at 100 characters, never inside an emoji and its variation selector"
