"""The speech-engine contract: PCM chunks in, a lazy stream of timed segments out (`transcript.segments.Segment`,
the value a transcript file parses into and a job stages and stores, so nothing converts it).

Audio arrives as consecutive 1-D float32 mono chunks at 16 kHz in [-1, 1] (what `media.decode.pcm_chunks` yields).
Every engine reads them window by window (`asr.windows`), so memory is bounded by one window however long the
recording is. All times are seconds from the start of the recording, never from the start of a window. Engines
give no speaker labels (the caller labels their segments `DEFAULT_SPEAKER` until diarization splits them) and a
segment without word timings has `words` None.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from transcript.choices import Task
from transcript.segments import Segment

SAMPLE_RATE = 16_000
Pcm = npt.NDArray[np.float32]
Progress = Callable[[float], None]
ShouldStop = Callable[[], bool]


@dataclass
class Transcription:
    """One engine run. `language` / `language_probability` are known when `transcribe()` returns: engines process
    the first window eagerly (faster-whisper detects the language there; the remote server names it in its first
    answer). `segments` is a one-shot lazy iterator: the audio after the first window is read and transcribed only
    as the caller consumes it, and it raises `TranscriptionError` / `TranscriptionCancelled` from inside the loop.
    """

    language: str | None
    language_probability: float | None
    segments: Iterator[Segment] = field(repr=False)


class SpeechEngine(Protocol):
    @property
    def name(self) -> str: ...

    def transcribe(
        self,
        chunks: Iterable[Pcm],
        *,
        total_seconds: float | None,
        language: str | None,
        on_progress: Progress,
        should_stop: ShouldStop,
        task: Task = "transcribe",
        vocabulary: str | None = None,
    ) -> Transcription:
        """Transcribe 16 kHz mono PCM. `language` (an ISO code) wins over detection when given; `task` "translate"
        writes the speech as English text; `vocabulary` (names and terms, `transcript.choices.MAX_VOCABULARY_CHARS`
        at most) biases the model towards them. `on_progress` gets
        the seconds of audio transcribed so far, strictly increasing, ending at the audio's length; `should_stop`
        is asked between segments and ends the run with `TranscriptionCancelled`. `total_seconds` (the recording's
        duration from its metadata, when known) only feeds log lines: the audio itself says when it ends."""
        ...
