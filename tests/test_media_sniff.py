"""Recognising audio and video by content (media/sniff.py), whatever the sender declared and whatever the name."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from media.sniff import from_header, recognise
from tests.media_fixtures import SAMPLES, Sample, encode, encoded, random_bytes

pytestmark = pytest.mark.same_on_every_server  # reaches no server DATABASE_URL / REDIS_URL name (see conftest)

EXPECTED = {
    "tone.wav": "audio/wav",
    "field.wav": "audio/wav",
    "talk.mp3": "audio/mpeg",
    "voice.m4a": "audio/mp4",
    "memo.ogg": "audio/ogg",
    "music.flac": "audio/flac",
    "call.webm": "video/webm",
    "clip.mp4": "video/mp4",
    "phone.mov": "video/quicktime",
    "lecture.mkv": "video/x-matroska",
}


def nameless(source: Path, tmp_path: Path) -> Path:
    """The bytes under a name that says nothing, as the upload spool stores them."""
    target = tmp_path / "0123abcd.part"
    shutil.copyfile(source, target)
    return target


def test_every_fixture_is_named() -> None:
    assert set(EXPECTED) == {sample.name for sample in SAMPLES}


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.name)
def test_each_container_is_recognised_by_its_bytes(sample: Sample, tmp_path: Path) -> None:
    path = nameless(encoded(sample.name), tmp_path)
    assert recognise(path, path.read_bytes()[:64]) == EXPECTED[sample.name]


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        (Sample("sound.mp4", "mp4", "aac", "aac", 44100, 2, "fltp"), "audio/mp4"),  # brand isom, no picture
        (Sample("sound.webm", "webm", "libopus", "opus", 48000, 1, "s16"), "audio/webm"),
        (Sample("sound.aac", "adts", "aac", "aac", 44100, 1, "fltp"), "audio/aac"),  # no header: FFmpeg decides
    ],
    ids=lambda value: value.name if isinstance(value, Sample) else value,
)
def test_containers_that_may_hold_video_are_audio_when_they_hold_only_sound(
    sample: Sample, expected: str, tmp_path: Path
) -> None:
    path = encode(tmp_path / sample.name, sample)
    assert recognise(path, path.read_bytes()[:64]) == expected


def test_an_mp3_without_its_id3_header_is_still_audio(tmp_path: Path) -> None:
    data = encoded("talk.mp3").read_bytes()
    size = int.from_bytes(bytes(b & 0x7F for b in data[6:10]), "big")  # ID3's syncsafe tag size
    bare = tmp_path / "bare.part"
    bare.write_bytes(data[10 + size :])
    assert from_header(bare.read_bytes()[:64]) is None
    assert recognise(bare, bare.read_bytes()[:64]) == "audio/mpeg"


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde"
PNG += b"\x00\x00\x00\x0cIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82"


@pytest.mark.parametrize(
    "data",
    [
        b"plain text, nothing more\n" * 40,
        b'{"segments": [{"start": 0, "end": 1, "text": "hi"}]}',
        b"1\n00:00:00,000 --> 00:00:01,500\nHello\n" * 10,
        b"%PDF-1.7\n" + b"0" * 2000,
        PNG,
        bytes(4096),
    ],
    ids=["text", "json", "srt", "pdf", "png", "zeros"],
)
def test_what_is_not_audio_or_video_is_not_recognised(data: bytes, tmp_path: Path) -> None:
    path = tmp_path / "upload.part"
    path.write_bytes(data)
    assert recognise(path, data[:64]) is None


def test_random_bytes_are_not_recognised(tmp_path: Path) -> None:
    path = random_bytes(tmp_path / "noise.part")
    assert recognise(path, path.read_bytes()[:64]) is None


def test_a_damaged_file_with_a_known_header_is_taken_for_the_worker_to_judge(tmp_path: Path) -> None:
    """A WAV header followed by garbage: accepted as audio/wav; the worker then says what is wrong with it."""
    path = tmp_path / "broken.part"
    path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(200))
    assert recognise(path, path.read_bytes()[:64]) == "audio/wav"
