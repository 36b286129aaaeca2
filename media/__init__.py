"""Reading uploaded audio and video with PyAV (FFmpeg inside its wheels): metadata, PCM, waveform, thumbnail.

Imported by workers and web alike; imports neither. Every failure to read media is a `MediaError`.
"""

from media.source import MediaError

__all__ = ["MediaError"]
