"""Technical metadata of every container and codec people upload, read with PyAV from files the tests encode."""

from __future__ import annotations

import dataclasses
import json
import pickle
import struct
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from media import sniff
from media.probe import MediaError, probe
from tests.media_fixtures import SAMPLES, SECONDS, Sample, browser_recording, encoded, random_bytes, truncated

pytestmark = pytest.mark.same_on_every_server  # reaches no server DATABASE_URL / REDIS_URL name (see conftest)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.name)
def test_each_container_reports_duration_rate_channels_and_codec(sample: Sample) -> None:
    info = probe(encoded(sample.name), "application/octet-stream")

    assert info.duration == pytest.approx(SECONDS, abs=0.1)
    assert (info.audio_sample_rate, info.audio_channels) == (sample.sample_rate, sample.channels)
    assert info.codec == (sample.video_codec_name or sample.codec_name)
    assert info.metadata_important["audio_codec"] == sample.codec_name
    assert info.audio_bit_depth == sample.bit_depth
    assert info.metadata_important["duration"] == pytest.approx(SECONDS, abs=0.1)
    json.dumps(info.metadata_raw)  # stored as jsonb
    json.dumps(info.metadata_important)


@pytest.mark.parametrize("sample", [s for s in SAMPLES if s.is_video], ids=lambda s: s.name)
def test_video_reports_its_picture(sample: Sample) -> None:
    info = probe(encoded(sample.name), None)

    width, height = sample.size
    ratio = Fraction(width, height)
    assert (info.resolution_width, info.resolution_height) == sample.size
    assert info.aspect_ratio == f"{ratio.numerator}:{ratio.denominator}"
    assert info.frame_rate == 10.0
    assert info.metadata_important["resolution"] == f"{width}x{height}"


def test_container_names_are_ffmpegs() -> None:
    formats = {s.name: probe(encoded(s.name)).media_format for s in SAMPLES}

    assert formats["tone.wav"] == "wav"
    assert formats["talk.mp3"] == "mp3"
    assert formats["memo.ogg"] == "ogg"
    assert formats["music.flac"] == "flac"
    assert formats["voice.m4a"] == formats["clip.mp4"] == "mov,mp4,m4a,3gp,3g2,mj2"
    assert formats["call.webm"] == formats["lecture.mkv"] == "matroska,webm"


def test_the_24_bit_fixture_really_is_wave_format_extensible() -> None:
    header = encoded("field.wav").read_bytes()[:64]

    assert header[20:22] == b"\xfe\xff"
    assert probe(encoded("field.wav")).codec == "pcm_s24le"


def handmade_wav(path: Path, *, tag: int, sub_format: int | None, bits: int, frames: int, channels: int = 2) -> Path:
    """A WAV header written byte by byte, as DAWs and field recorders write them."""
    block = channels * bits // 8
    if sub_format is None:
        fmt = struct.pack("<HHIIHH", tag, channels, 48000, 48000 * block, block, bits)
    else:
        guid = sub_format.to_bytes(4, "little") + bytes.fromhex("00001000800000aa00389b71")
        fmt = struct.pack("<HHIIHHHHI", tag, channels, 48000, 48000 * block, block, bits, 22, bits, 0b11) + guid
    data = bytes(frames * block)
    body = b"WAVEfmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


KINDS = [
    (0xFFFE, 1, 24, "pcm_s24le"),  # WAVE_FORMAT_EXTENSIBLE, integer PCM
    (0xFFFE, 3, 32, "pcm_f32le"),  # WAVE_FORMAT_EXTENSIBLE, IEEE float
    (3, None, 32, "pcm_f32le"),
    (1, None, 16, "pcm_s16le"),
]


@pytest.mark.parametrize(("tag", "sub_format", "bits", "codec"), KINDS)
def test_handmade_wav_headers_of_every_kind(
    tmp_path: Path, tag: int, sub_format: int | None, bits: int, codec: str
) -> None:
    info = probe(handmade_wav(tmp_path / "field.wav", tag=tag, sub_format=sub_format, bits=bits, frames=24000))

    assert (info.duration, info.audio_channels, info.audio_sample_rate) == (0.5, 2, 48000)
    assert (info.codec, info.audio_bit_depth) == (codec, bits)


def test_tags_give_dates_and_the_device(tmp_path: Path) -> None:
    path = tmp_path / "phone.mov"
    with av.open(str(path), "w", format="mov") as out:
        out.metadata.update({"creation_time": "2024-03-05T10:20:30.000000Z", "make": "Apple", "model": "iPhone 12"})
        video = out.add_stream("mpeg4", rate=10)
        assert isinstance(video, av.VideoStream)
        video.width, video.height, video.pix_fmt = 160, 120, "yuv420p"
        video.codec_context.sample_aspect_ratio = Fraction(4, 3)  # anamorphic: 160x120 pixels shown as 16:9
        for index in range(5):
            frame = av.VideoFrame.from_ndarray(np.zeros((120, 160, 3), np.uint8), format="rgb24")
            frame.pts = index
            out.mux(video.encode(frame))
        out.mux(video.encode(None))

    info = probe(path, "video/quicktime")

    assert info.creation_date == datetime(2024, 3, 5, 10, 20, 30, tzinfo=UTC)
    assert (info.device_make, info.device_model) == ("Apple", "iPhone 12")
    assert info.metadata_important["device"] == "Apple iPhone 12"
    assert info.aspect_ratio == "16:9"
    assert info.audio_channels is None and info.audio_sample_rate is None, "a video without sound"


def test_results_are_frozen_and_name_the_columns() -> None:
    info = probe(encoded("tone.wav"), "audio/wav")

    with pytest.raises(dataclasses.FrozenInstanceError):
        info.duration = 3.0  # type: ignore[misc]
    assert info.metadata_important["mime_type"] == "audio/wav"
    assert set(dataclasses.asdict(info)) >= {"duration", "audio_bit_depth", "device_model", "metadata_important"}


def test_random_bytes_named_mp3_are_not_media(tmp_path: Path) -> None:
    with pytest.raises(MediaError) as caught:
        probe(random_bytes(tmp_path / "talk.mp3"), "audio/mpeg")

    assert str(caught.value) == "could not read talk.mp3: not a recognised audio or video file (or a damaged one)"


def test_an_mp4_cut_before_its_index_is_a_media_error(tmp_path: Path) -> None:
    cut = truncated(encoded("clip.mp4"), tmp_path / "clip.mp4")

    with pytest.raises(MediaError, match=r"^could not read clip\.mp4: not a recognised audio or video file"):
        probe(cut)


def test_an_ogg_cut_inside_its_header_says_it_is_truncated(tmp_path: Path) -> None:
    cut = truncated(encoded("memo.ogg"), tmp_path / "memo.ogg", 0.02)

    with pytest.raises(MediaError, match=r"^could not read memo\.ogg: the file ends before its header does"):
        probe(cut)


def test_a_picture_is_not_media(tmp_path: Path) -> None:
    from media.thumbnail import thumbnail

    jpeg = thumbnail(encoded("clip.mp4"))
    assert jpeg is not None
    picture = tmp_path / "cover.mp3"
    picture.write_bytes(jpeg)

    with pytest.raises(
        MediaError, match=r"^could not read cover\.mp3: it is a still image \(jpeg\), not audio or video$"
    ):
        probe(picture)


def test_empty_and_missing_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")

    with pytest.raises(MediaError, match=r"^could not read empty\.wav: the file is empty$"):
        probe(empty)
    with pytest.raises(MediaError, match=r"^could not read gone\.mp3: the file does not exist$"):
        probe(tmp_path / "gone.mp3")


def test_an_error_can_name_the_uploaded_file_instead_of_the_stored_one(tmp_path: Path) -> None:
    with pytest.raises(MediaError) as caught:
        probe(random_bytes(tmp_path / "3f2a9c"))

    renamed = caught.value.renamed("talk.mp3")
    assert str(renamed).startswith("could not read talk.mp3: not a recognised")
    assert str(pickle.loads(pickle.dumps(renamed))) == str(renamed)


def test_a_browser_recording_states_no_length_and_gets_it_from_its_packets(tmp_path: Path) -> None:
    """MediaRecorder writes WebM as it records, so its headers never say how long it is; the packets do."""
    path = browser_recording(tmp_path / "Recording 2026-12-07 14-03.webm", seconds=3.0)
    with av.open(str(path)) as container:
        assert container.duration is None and container.streams.audio[0].duration is None
    info = probe(path, "audio/webm")
    assert info.duration == pytest.approx(3.0, abs=0.05) and info.codec == "opus"
    assert info.metadata_important["duration"] == pytest.approx(3.0, abs=0.05)
    assert sniff.recognise(path, path.read_bytes()[:4096]) == "audio/webm"
