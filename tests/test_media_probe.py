"""Technical metadata: PCM WAV through `wave`, everything else through ffprobe (a real one when installed, otherwise a
stand-in script on PATH that prints a recorded ffprobe report)."""

from __future__ import annotations

import dataclasses
import json
import shutil
import stat
import struct
import sys
import wave
from datetime import UTC, datetime
from pathlib import Path

import pytest

from workers.media_probe import MediaError, MediaInfo, ProbeUnavailable, probe

PHONE_VIDEO_REPORT = {
    "streams": [
        {
            "index": 0,
            "codec_name": "h264",
            "codec_type": "video",
            "width": 1920,
            "height": 1080,
            "display_aspect_ratio": "16:9",
            "avg_frame_rate": "30000/1001",
            "r_frame_rate": "30000/1001",
            "duration": "12.512500",
            "nb_frames": "375",
            "tags": {"creation_time": "2024-03-05T10:20:30.000000Z"},
        },
        {
            "index": 1,
            "codec_name": "aac",
            "codec_type": "audio",
            "sample_rate": "48000",
            "channels": 2,
            "bits_per_sample": 0,
            "duration": "12.500000",
        },
        {"index": 2, "codec_name": "mjpeg", "codec_type": "video", "width": 320, "height": 320,
         "disposition": {"attached_pic": 1}},
    ],
    "format": {
        "filename": "clip.mov",
        "format_name": "mov,mp4,m4a,3gp,3g2,mj2",
        "duration": "12.512500",
        "size": "5242880",
        "bit_rate": "3352000",
        "tags": {
            "creation_time": "2024-03-05T10:20:30.000000Z",
            "com.apple.quicktime.make": "Apple",
            "com.apple.quicktime.model": "iPhone 12",
        },
    },
}  # fmt: skip


def write_wav(path: Path, *, rate: int, channels: int, width: int, frames: int) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(width)
        out.setframerate(rate)
        out.writeframes(bytes(frames * channels * width))
    return path


def fake_ffprobe(bin_dir: Path, *, report: object = None, fail_with: str | None = None) -> None:
    """An `ffprobe` on PATH that checks its arguments and prints `report` or fails like ffprobe does."""
    script = f"""#!{sys.executable}
import json, os, sys
args = sys.argv[1:]
if not {{"-show_format", "-show_streams"}} <= set(args) or not os.path.exists(args[-1].removeprefix("file:")):
    sys.exit("bad arguments: " + repr(args))
if {fail_with!r} is not None:
    sys.stderr.write(args[-1] + ": " + {fail_with!r} + "\\n")
    sys.exit(1)
sys.stdout.write(json.dumps({report!r}))
"""
    target = bin_dir / "ffprobe"
    target.write_text(script)
    target.chmod(target.stat().st_mode | stat.S_IEXEC)


@pytest.fixture
def bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PATH holding only this (initially empty) directory: no ffprobe unless a test puts one there."""
    directory = tmp_path / "bin"
    directory.mkdir()
    monkeypatch.setenv("PATH", str(directory))
    return directory


def test_wav_metadata_comes_from_the_header(tmp_path: Path) -> None:
    info = probe(write_wav(tmp_path / "talk.wav", rate=16000, channels=1, width=2, frames=40000), "audio/wav")

    assert info.duration == pytest.approx(2.5)
    assert (info.media_format, info.codec) == ("wav", "pcm_s16le")
    assert (info.audio_channels, info.audio_sample_rate, info.audio_bit_depth) == (1, 16000, 16)
    assert info.resolution_width is None and info.frame_rate is None and info.creation_date is None
    assert info.metadata_important["duration"] == 2.5
    assert info.metadata_important["mime_type"] == "audio/wav"
    assert info.metadata_raw["frames"] == 40000


@pytest.mark.parametrize(
    ("width", "channels", "rate", "codec"),
    [(1, 1, 8000, "pcm_u8"), (2, 2, 44100, "pcm_s16le"), (3, 2, 48000, "pcm_s24le"), (4, 6, 96000, "pcm_s32le")],
)
def test_wav_bit_depths_and_channel_counts(tmp_path: Path, width: int, channels: int, rate: int, codec: str) -> None:
    path = write_wav(tmp_path / "a.wav", rate=rate, channels=channels, width=width, frames=rate * 3 // 2)

    info = probe(path, None)

    assert info.duration == pytest.approx(1.5)
    assert info.codec == codec
    assert (info.audio_channels, info.audio_sample_rate, info.audio_bit_depth) == (channels, rate, width * 8)


def test_results_are_frozen_and_fit_the_json_columns(tmp_path: Path) -> None:
    info = probe(write_wav(tmp_path / "a.wav", rate=8000, channels=1, width=2, frames=800), "audio/x-wav")

    with pytest.raises(dataclasses.FrozenInstanceError):
        info.duration = 3.0  # type: ignore[misc]
    json.dumps(info.metadata_raw)
    json.dumps(info.metadata_important)
    assert set(dataclasses.asdict(info)) >= {"duration", "audio_bit_depth", "device_model", "metadata_important"}


def test_wav_is_recognised_by_content_whatever_its_label(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "upload.bin", rate=8000, channels=1, width=2, frames=8000)

    assert probe(path, "application/octet-stream").duration == pytest.approx(1.0)


def test_a_cut_off_wav_reports_the_audio_it_still_holds(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "cut.wav", rate=8000, channels=1, width=2, frames=16000)
    path.write_bytes(path.read_bytes()[: 44 + 8000 * 2])

    info = probe(path, "audio/wav")

    assert info.duration == pytest.approx(1.0)
    assert "declares 16000 frames, the file holds 8000" in info.metadata_raw["warning"]


def test_corrupt_wav_is_a_media_error(tmp_path: Path) -> None:
    garbage = tmp_path / "broken.wav"
    garbage.write_bytes(b"RIFF\x24\x00\x00\x00WAVEjunk" + bytes(40))
    truncated = tmp_path / "short.wav"
    truncated.write_bytes(b"RIFF\x24\x00\x00\x00WAVE")
    no_channels = tmp_path / "silent.wav"
    fmt = struct.pack("<HHIIHH", 1, 0, 8000, 16000, 2, 16)
    no_channels.write_bytes(
        b"RIFF" + struct.pack("<I", 36) + b"WAVEfmt " + struct.pack("<I", 16) + fmt + b"data\0\0\0\0"
    )

    for path in (garbage, truncated, no_channels):
        with pytest.raises(MediaError, match=rf"{path.name} is not a readable WAV file") as caught:
            probe(path, "audio/wav")
        assert not isinstance(caught.value, ProbeUnavailable)


def test_file_labelled_wav_without_a_wav_header_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "fake.wav"
    path.write_bytes(b"ID3" + bytes(100))

    with pytest.raises(MediaError, match=r"fake\.wav is labelled as WAV but has no RIFF/WAVE header"):
        probe(path, "audio/wav")


def test_missing_file_is_a_media_error(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match=r"cannot read gone\.wav"):
        probe(tmp_path / "gone.wav", "audio/wav")


def test_without_ffprobe_other_formats_cannot_be_analysed(tmp_path: Path, bin_dir: Path) -> None:
    path = tmp_path / "song.mp3"
    path.write_bytes(b"ID3\x04" + bytes(200))

    with pytest.raises(ProbeUnavailable) as caught:
        probe(path, "audio/mpeg")

    assert str(caught.value) == "ffprobe is not installed; only WAV files can be analysed"
    assert isinstance(caught.value, MediaError)


def float_wav(path: Path) -> Path:
    fmt = struct.pack("<HHIIHH", 3, 1, 8000, 32000, 4, 32)
    body = b"WAVEfmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", 400) + bytes(400)
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


def test_non_pcm_wav_needs_ffprobe(tmp_path: Path, bin_dir: Path) -> None:
    with pytest.raises(ProbeUnavailable) as caught:
        probe(float_wav(tmp_path / "float.wav"), "audio/wav")

    assert str(caught.value) == (
        "ffprobe is not installed; only PCM WAV files can be analysed "
        "(float.wav is a WAV file in format tag 3 (IEEE float), not plain integer PCM)"
    )


def extensible_wav(path: Path, *, sub_format: int, frames: int) -> Path:
    """A 24-bit stereo WAV with a WAVE_FORMAT_EXTENSIBLE header, as DAWs and field recorders write them."""
    guid = sub_format.to_bytes(4, "little") + bytes.fromhex("00001000800000aa00389b71")
    fmt = struct.pack("<HHIIHHHHI", 0xFFFE, 2, 48000, 48000 * 6, 6, 24, 22, 24, 0b11) + guid
    data = bytes(frames * 6)
    body = b"WAVEfmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


def test_extensible_pcm_wav_is_read_where_python_can(tmp_path: Path, bin_dir: Path) -> None:
    path = extensible_wav(tmp_path / "field.wav", sub_format=1, frames=24000)

    if sys.version_info >= (3, 12):
        info = probe(path, "audio/wav")
        assert (info.duration, info.audio_channels, info.audio_bit_depth) == (0.5, 2, 24)
    else:
        with pytest.raises(ProbeUnavailable, match=r"WAVE_FORMAT_EXTENSIBLE, unreadable on Python 3\.11"):
            probe(path, "audio/wav")


def test_extensible_float_wav_needs_ffprobe(tmp_path: Path, bin_dir: Path) -> None:
    path = extensible_wav(tmp_path / "float.wav", sub_format=3, frames=10)

    with pytest.raises(ProbeUnavailable, match=r"WAVE_FORMAT_EXTENSIBLE with sub-format 3 \(IEEE float\)"):
        probe(path, "audio/wav")


def test_non_pcm_wav_goes_to_ffprobe_when_installed(tmp_path: Path, bin_dir: Path) -> None:
    report = {
        "streams": [{"codec_type": "audio", "codec_name": "pcm_f32le", "sample_rate": "8000", "channels": 1}],
        "format": {"format_name": "wav", "duration": "0.0125"},
    }
    fake_ffprobe(bin_dir, report=report)

    info = probe(float_wav(tmp_path / "float.wav"), "audio/wav")

    assert (info.codec, info.audio_sample_rate, info.duration) == ("pcm_f32le", 8000, 0.0125)


def test_ffprobe_report_becomes_the_metadata(tmp_path: Path, bin_dir: Path) -> None:
    fake_ffprobe(bin_dir, report=PHONE_VIDEO_REPORT)
    path = tmp_path / "clip.mov"
    path.write_bytes(bytes(64))

    info = probe(path, "video/quicktime")

    assert info.duration == pytest.approx(12.5125)
    assert (info.media_format, info.codec) == ("mov,mp4,m4a,3gp,3g2,mj2", "h264")
    assert (info.resolution_width, info.resolution_height, info.aspect_ratio) == (1920, 1080, "16:9")
    assert (info.frame_rate, info.frame_count) == (29.97, 375)
    assert (info.audio_channels, info.audio_sample_rate, info.audio_bit_depth) == (2, 48000, None)
    assert info.creation_date == datetime(2024, 3, 5, 10, 20, 30, tzinfo=UTC)
    assert (info.device_make, info.device_model) == ("Apple", "iPhone 12")
    assert info.metadata_raw == PHONE_VIDEO_REPORT
    assert info.metadata_important["device"] == "Apple iPhone 12"
    assert info.metadata_important["resolution"] == "1920x1080"
    assert info.metadata_important["audio_codec"] == "aac"
    json.dumps(info.metadata_important)


def test_aspect_ratio_is_derived_when_ffprobe_gives_none(tmp_path: Path, bin_dir: Path) -> None:
    report = {"streams": [{"codec_type": "video", "codec_name": "vp9", "width": 1280, "height": 720,
                           "avg_frame_rate": "0/0", "r_frame_rate": "25/1"}],
              "format": {"format_name": "matroska,webm"}}  # fmt: skip
    fake_ffprobe(bin_dir, report=report)
    path = tmp_path / "clip.webm"
    path.write_bytes(bytes(64))

    info = probe(path, "video/webm")

    assert (info.aspect_ratio, info.frame_rate, info.duration, info.audio_channels) == ("16:9", 25.0, None, None)


def test_file_ffprobe_rejects_is_a_media_error(tmp_path: Path, bin_dir: Path) -> None:
    fake_ffprobe(bin_dir, fail_with="Invalid data found when processing input")
    path = tmp_path / "noise.mp4"
    path.write_bytes(bytes(64))

    with pytest.raises(MediaError) as caught:
        probe(path, "video/mp4")
    assert str(caught.value) == "ffprobe cannot read noise.mp4: noise.mp4: Invalid data found when processing input"
    assert not isinstance(caught.value, ProbeUnavailable)


def test_unreadable_ffprobe_output_is_a_media_error(tmp_path: Path, bin_dir: Path) -> None:
    fake_ffprobe(bin_dir, report=[1, 2])
    path = tmp_path / "odd.mkv"
    path.write_bytes(bytes(64))

    with pytest.raises(MediaError, match=r"ffprobe gave an unreadable report for odd\.mkv"):
        probe(path, None)


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe is not installed on this machine")
def test_real_ffprobe_reads_a_sun_audio_file(tmp_path: Path) -> None:
    samples = bytes(8000 * 2 * 2)
    path = tmp_path / "tone.au"
    path.write_bytes(b".snd" + struct.pack(">IIIII", 24, len(samples), 3, 8000, 2) + samples)

    info = probe(path, "audio/basic")

    assert info.media_format == "au"
    assert info.codec == "pcm_s16be"
    assert (info.audio_channels, info.audio_sample_rate) == (2, 8000)
    assert info.duration == pytest.approx(1.0, abs=0.01)
    assert isinstance(info, MediaInfo)
