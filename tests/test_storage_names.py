"""Display names of uploads (storage/names.py): every script kept exactly; long names shortened, extension kept."""

from __future__ import annotations

import unicodedata

import pytest
import regex

from storage.names import MAX_NAME, clean_filename, extension_of, is_media, shorten

pytestmark = pytest.mark.same_on_every_server  # reaches no server DATABASE_URL / REDIS_URL name (see conftest)

KEPT = [
    "会議の記録.wav",
    "🎙️.wav",
    "Besprechung-Müller.wav",
    "اجتماع الفريق.m4a",
    "‏שיחה‏.mp3",  # right-to-left marks are part of Hebrew text
    "👩‍💻 stand-up.webm",  # the zero-width joiner makes one emoji of two
    "می‌خواهم.ogg",  # Persian's zero-width non-joiner
    "🇯🇵 trip.mov",
    "talk (final) #2 — v3.wav",
]


@pytest.mark.parametrize("name", KEPT)
def test_names_in_every_script_are_kept_exactly(name: str) -> None:
    assert clean_filename(name) == name


def test_only_the_last_path_component_and_no_control_or_override_characters() -> None:
    assert clean_filename("../../etc/会議.wav") == "会議.wav"
    assert clean_filename("C:\\Users\\pat\\Müller.wav") == "Müller.wav"
    assert clean_filename("line\nbreak\ttab\x00.wav") == "linebreaktab.wav"
    # U+202E would show "evil‮vaw.exe" as "evilexe.wav"
    assert clean_filename("evil\u202evaw.exe") == "evilvaw.exe"
    assert clean_filename("\ufeff.hidden.wav") == "hidden.wav"
    assert clean_filename("   ") == "upload" and clean_filename("", default="download") == "download"


def test_a_decomposed_name_from_a_mac_is_stored_composed() -> None:
    decomposed = unicodedata.normalize("NFD", "Besprechung-Müller.wav")
    assert decomposed != "Besprechung-Müller.wav"
    assert clean_filename(decomposed) == "Besprechung-Müller.wav"


def test_a_long_name_keeps_its_extension_and_fits_the_column() -> None:
    name = "x" * 300 + ".wav"
    shortened = clean_filename(name)
    assert len(shortened) == MAX_NAME and shortened == "x" * (MAX_NAME - 4) + ".wav"


@pytest.mark.parametrize("unit", ["🎙️", "👩🏽‍💻", "é", "🇯🇵", "会"])
def test_a_long_name_is_never_cut_inside_a_grapheme(unit: str) -> None:
    name = "a" + unit * 300 + ".m4a"
    shortened = clean_filename(name)
    assert len(shortened) <= MAX_NAME and shortened.endswith(".m4a")
    stem = shortened.removesuffix(".m4a")
    assert stem == "a" + unit * ((len(stem) - 1) // len(unit)), "only whole graphemes"
    assert len(stem) > MAX_NAME - 4 - len(unit) - 1, "and as many as fit"
    assert all(len(g) == len(unit) for g in regex.findall(r"\X", stem[1:]))


def test_what_is_no_extension_is_cut_like_the_rest() -> None:
    sentence = "Notes. " + "word " * 80
    assert extension_of(sentence) == "" and extension_of("a.tar.gz") == ".gz" and extension_of(".wav") == ""
    assert extension_of("Protokoll.final版") == "" and extension_of("talk.M4A") == ".M4A"
    assert len(shorten(sentence, 50)) <= 50 and shorten(sentence, 50).startswith("Notes. word")
    assert shorten("short.wav", 50) == "short.wav"


def test_a_url_download_is_judged_by_type_then_extension() -> None:
    assert is_media("x.bin", "audio/ogg") and is_media("talk.MP3", "application/octet-stream")
    assert not is_media("notes.txt", "application/octet-stream") and not is_media("talk.wav", "text/html")
