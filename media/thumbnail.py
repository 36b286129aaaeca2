"""A JPEG thumbnail of a video: one frame about 10% in (1 s when the length is unknown), at most `max_width` wide.

Encoded with FFmpeg's mjpeg encoder through PyAV, so no imaging library is needed. The thumbnail keeps the
*display* aspect ratio: anamorphic video (non-square pixels) is scaled by its sample aspect ratio.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import av.error

from media.source import MediaError, main_video, open_media

__all__ = ["MediaError", "thumbnail"]

MAX_WIDTH = 320
SHARE_IN = 0.1
UNKNOWN_LENGTH_AT = 1.0
JPEG_QSCALE = 4  # 2 (best) .. 31; 4 is visually clean at a few kB for 320 px
_FF_QP2LAMBDA = 118


def thumbnail(path: Path, max_width: int = MAX_WIDTH) -> bytes | None:
    """JPEG bytes, or None for a file without a video stream (cover art in an audio file does not count)."""
    with open_media(path) as container:
        video = main_video(container)
        if video is None:
            return None
        video.codec_context.thread_type = "AUTO"
        length = container.duration / av.time_base if container.duration else None
        target = length * SHARE_IN if length else UNKNOWN_LENGTH_AT
        frame = _frame_at(container, video, target) or _frame_at(container, video, 0.0)
        if frame is None:
            raise MediaError(path.name, "its video stream holds no decodable picture")
        sar = video.sample_aspect_ratio or video.codec_context.sample_aspect_ratio or Fraction(1)
        return _jpeg(frame, *_size(frame.width, frame.height, sar, max_width))


def _frame_at(container: av.container.InputContainer, video: av.VideoStream, seconds: float) -> av.VideoFrame | None:
    """The first frame at or after `seconds`, else the last one before it (a target past the end)."""
    last: av.VideoFrame | None = None
    try:
        if seconds > 0 and video.time_base:
            container.seek(int(seconds / video.time_base), stream=video, backward=True)
        else:
            container.seek(0)
        for packet in container.demux(video):
            try:
                frames = packet.decode()
            except av.error.FFmpegError:
                continue
            for frame in frames:
                if frame.time is None or frame.time >= seconds:
                    return frame
                last = frame
    except av.error.FFmpegError:
        return last
    return last


def _size(width: int, height: int, sar: Fraction, max_width: int) -> tuple[int, int]:
    """Even dimensions (4:2:0 chroma) of the display aspect ratio, no wider than max_width, never upscaled."""
    shown_width = width * sar
    out_width = min(max_width, int(shown_width))
    out_height = round(out_width * height / shown_width)
    return max(2, out_width - out_width % 2), max(2, out_height - out_height % 2)


def _jpeg(frame: av.VideoFrame, width: int, height: int) -> bytes:
    encoder = av.CodecContext.create("mjpeg", "w")
    assert isinstance(encoder, av.VideoCodecContext)
    encoder.width, encoder.height = width, height
    encoder.pix_fmt = "yuvj420p"
    encoder.time_base = Fraction(1, 25)
    encoder.qscale = True  # fixed quality rather than the default bit rate, which is meant for video streams
    encoder.global_quality = JPEG_QSCALE * _FF_QP2LAMBDA
    picture = frame.reformat(width=width, height=height, format="yuvj420p")
    picture.pts = 0
    return b"".join(bytes(packet) for packet in [*encoder.encode(picture), *encoder.encode(None)])
