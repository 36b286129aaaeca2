"""Video thumbnails: a JPEG frame about 10% in, at most 320 px wide, in the video's display aspect ratio."""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from media.thumbnail import MediaError, thumbnail
from tests.media_fixtures import VIDEOS, Sample, encoded, random_bytes

pytestmark = pytest.mark.same_on_every_server  # reaches no server DATABASE_URL / REDIS_URL name (see conftest)


def decoded_jpeg(data: bytes) -> av.VideoFrame:
    """The picture inside `data`, which must be a JPEG (PyAV's jpeg_pipe demuxer and mjpeg decoder read it)."""
    assert data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9"
    with av.open(io.BytesIO(data), "r") as container:
        assert container.format.name == "jpeg_pipe"
        frames = list(container.decode(video=0))
    assert len(frames) == 1 and isinstance(frames[0], av.VideoFrame)
    return frames[0]


def silent_video(path: Path, size: tuple[int, int] = (160, 120), sar: Fraction | None = None) -> Path:
    """An mp4 with pictures only; frame i is uniformly grey at level 20*i."""
    with av.open(str(path), "w", format="mp4") as out:
        video = out.add_stream("mpeg4", rate=10)
        assert isinstance(video, av.VideoStream)
        video.width, video.height, video.pix_fmt = *size, "yuv420p"
        if sar is not None:
            video.codec_context.sample_aspect_ratio = sar
        for index in range(10):
            picture = np.full((size[1], size[0], 3), index * 20, np.uint8)
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts = index
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    return path


@pytest.mark.parametrize("sample", VIDEOS, ids=lambda s: s.name)
def test_each_video_container_gets_a_jpeg_of_its_aspect_ratio(sample: Sample) -> None:
    data = thumbnail(encoded(sample.name))

    assert data is not None
    picture = decoded_jpeg(data)
    width, height = sample.size
    assert picture.width == min(320, width)
    assert picture.height == pytest.approx(picture.width * height / width, abs=2)


def test_the_frame_is_about_ten_percent_in(tmp_path: Path) -> None:
    data = thumbnail(silent_video(tmp_path / "grey.mp4"))  # 1 s long: 10% in is frame 1, grey level 20

    assert data is not None
    level = float(decoded_jpeg(data).to_ndarray(format="rgb24").mean())
    assert level == pytest.approx(20, abs=6)


def test_large_video_is_scaled_down_and_anamorphic_video_widened(tmp_path: Path) -> None:
    large = thumbnail(silent_video(tmp_path / "large.mp4", size=(1280, 720)), max_width=320)
    wide = thumbnail(silent_video(tmp_path / "dv.mp4", size=(160, 120), sar=Fraction(4, 3)))

    assert large is not None and wide is not None
    assert (decoded_jpeg(large).width, decoded_jpeg(large).height) == (320, 180)
    assert (decoded_jpeg(wide).width, decoded_jpeg(wide).height) == (212, 120)  # 16:9 on screen, never upscaled


def test_audio_has_no_thumbnail() -> None:
    assert thumbnail(encoded("talk.mp3")) is None
    assert thumbnail(encoded("voice.m4a")) is None


def test_unreadable_file_is_a_media_error(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match=r"^could not read clip\.mp4: not a recognised"):
        thumbnail(random_bytes(tmp_path / "clip.mp4"))
