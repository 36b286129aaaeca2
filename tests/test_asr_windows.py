"""Windows over a PCM stream: every sample exactly once, bounded size, cuts in the quiet, absolute times."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from asr.types import SAMPLE_RATE, Pcm
from asr.windows import CUT_SEARCH_SECONDS, ProgressMeter, Window, WindowWord, place, windows
from transcript.segments import Word

pytestmark = pytest.mark.same_on_every_server  # reaches no server DATABASE_URL / REDIS_URL name (see conftest)


def stream(audio: Pcm, chunk_samples: int) -> Iterator[Pcm]:
    for i in range(0, audio.size, chunk_samples):
        yield audio[i : i + chunk_samples]


def loud(seconds: float, seed: int = 0) -> Pcm:
    return (0.5 * np.random.default_rng(seed).standard_normal(int(seconds * SAMPLE_RATE))).astype(np.float32)


@pytest.mark.parametrize("chunk_seconds", [0.3, 1.0, 7.0, 30.0])
def test_windows_cover_every_sample_once_and_never_exceed_the_limit(chunk_seconds: float) -> None:
    audio = loud(47.3)
    parts = list(windows(stream(audio, int(chunk_seconds * SAMPLE_RATE)), window_seconds=12.0))

    assert np.array_equal(np.concatenate([w.audio for w in parts]), audio)
    assert all(w.seconds <= 12.0 for w in parts)
    assert [w.offset for w in parts] == pytest.approx(np.cumsum([0.0] + [w.seconds for w in parts[:-1]]))
    assert all(w.audio.dtype == np.float32 and w.audio.ndim == 1 for w in parts)


def test_a_window_ends_in_the_pause_before_its_limit() -> None:
    pause_at = 12.0 - CUT_SEARCH_SECONDS + 1.0  # a 0.3 s silence inside the last CUT_SEARCH_SECONDS
    audio = loud(20.0)
    start = int(pause_at * SAMPLE_RATE)
    audio[start : start + int(0.3 * SAMPLE_RATE)] = 0.0
    first, second = windows(stream(audio, SAMPLE_RATE), window_seconds=12.0)

    assert pause_at < first.end < pause_at + 0.3
    assert second.offset == first.end


def test_a_stereo_chunk_is_refused_rather_than_interleaved() -> None:
    with pytest.raises(ValueError, match=r"PCM chunks must be 1-D mono, got shape \(2, 16000\)"):
        list(windows(iter([np.zeros((2, SAMPLE_RATE), np.float32)]), window_seconds=5.0))


def test_an_empty_stream_has_no_windows() -> None:
    assert list(windows(iter([np.zeros(0, np.float32)]), window_seconds=5.0)) == []


def test_times_become_absolute_inside_the_window_and_in_order() -> None:
    window = Window(offset=60.0, audio=np.zeros(10 * SAMPLE_RATE, np.float32))
    said = [WindowWord(1.0, 1.5, "hello", 0.8), WindowWord(9.9, 11.0, "x", None)]
    segment = place(window, -0.5, 12.0, "  hello ", said, 0.0)

    assert (segment.start_time, segment.end_time, segment.text, segment.speaker_label) == (60.0, 70.0, "hello", None)
    assert segment.words == (Word("hello", 61.0, 61.5, 0.8), Word("x", 69.9, 70.0))
    again = place(window, 1.0, 2.0, "again", [], not_before=65.0)
    assert (again.start_time, again.words) == (65.0, None)  # no words: None, as stored


def test_progress_is_reported_only_when_it_grows() -> None:
    seen: list[float] = []
    meter = ProgressMeter(seen.append)
    for value in [1.0, 1.0, 0.5, 2.5, 2.4, 3.0]:
        meter.report(value)

    assert seen == [1.0, 2.5, 3.0]
