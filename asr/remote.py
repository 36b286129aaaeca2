"""The remote engine (OPENTR_ASR_ENGINE=openai): any server speaking OpenAI's `POST /v1/audio/transcriptions`.

Covers speaches / faster-whisper-server, LocalAI, whisper.cpp's server, vLLM, OpenAI and Groq. The audio goes up as
16 kHz mono 16-bit WAV pieces no larger than the upload limit (OpenAI's is 25 MB; the default 24 MB leaves room),
cut at quiet points like any window (`asr.windows`); each piece's timestamps are shifted by its offset. Network
failures, connect timeouts, 408, 429 and 5xx are retried with exponential backoff that honours Retry-After (capped);
a read timeout is not, because a server that needed longer than the timeout for a piece will need it again. The api
key travels only in the Authorization header and is scrubbed from every message and log line.
"""

from __future__ import annotations

import bisect
import dataclasses
import io
import logging
import math
import time
import wave
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np

from asr.errors import RemoteTranscriptionError, TranscriptionCancelled, TranscriptionError
from asr.languages import language_code
from asr.types import SAMPLE_RATE, Pcm, Progress, ShouldStop, Transcription
from asr.windows import ProgressMeter, Window, WindowWord, place, windows
from outbound.retries import backoff_delay, redact, retry_after, snippet
from transcript.choices import Task
from transcript.segments import Segment

if TYPE_CHECKING:
    from config.settings import Settings

log = logging.getLogger("opentr.asr.remote")
WAV_HEADER_BYTES = 44
MIN_PIECE_SECONDS = 1.0
CONNECT_TIMEOUT_SECONDS = 10.0
RETRYABLE_STATUSES = frozenset({408, 429})


@dataclass(frozen=True)
class RemoteConfig:
    url: str  # the server's base URL, with or without the trailing /v1
    model: str = "whisper-1"
    api_key: str | None = dataclasses.field(default=None, repr=False)
    max_upload_bytes: int = 24 * 1024 * 1024
    timeout_seconds: float = 600.0
    max_attempts: int = 4
    backoff_seconds: float = 1.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RemoteConfig:
        if not settings.opentr_asr_remote_url:
            raise TranscriptionError("OPENTR_ASR_REMOTE_URL is required when OPENTR_ASR_ENGINE=openai")
        key = settings.opentr_asr_remote_key
        return cls(
            url=settings.opentr_asr_remote_url,
            model=settings.opentr_asr_remote_model,
            api_key=key.get_secret_value() if key else None,
            max_upload_bytes=int(settings.opentr_asr_remote_max_upload_mb * 1024 * 1024),
            timeout_seconds=settings.opentr_asr_remote_timeout_seconds,
        )

    @property
    def endpoint(self) -> str:
        return self.endpoint_for("transcribe")

    def endpoint_for(self, task: Task) -> str:
        """Transcription, or OpenAI's translation route (speech in any language written as English text)."""
        route = "translations" if task == "translate" else "transcriptions"
        base = self.url.rstrip("/")
        return f"{base}/audio/{route}" if base.endswith("/v1") else f"{base}/v1/audio/{route}"

    @property
    def piece_seconds(self) -> float:
        return (self.max_upload_bytes - WAV_HEADER_BYTES) // 2 / SAMPLE_RATE


class _Failure(Exception):
    def __init__(self, message: str, retryable: bool, retry_after_seconds: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.retry_after_seconds = retry_after_seconds


class RemoteEngine:
    name = "openai"

    def __init__(self, config: RemoteConfig) -> None:
        if config.piece_seconds < MIN_PIECE_SECONDS:
            raise TranscriptionError("OPENTR_ASR_REMOTE_MAX_UPLOAD_MB is too small to hold one second of audio")
        self.config = config

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
        asked = Asked(language, task, vocabulary)
        pieces = windows(chunks, self.config.piece_seconds)
        first = next(pieces, None)
        if first is None:
            return Transcription(language, None, iter(()))
        timeout = httpx.Timeout(self.config.timeout_seconds, connect=CONNECT_TIMEOUT_SECONDS)
        client = httpx.Client(timeout=timeout)
        try:
            answer = self._post(client, first, asked)
        except BaseException:
            client.close()
            raise
        detected = language or language_code(answer.get("language"))
        following = dataclasses.replace(asked, language=detected)
        stream = self._stream(client, first, answer, pieces, following, ProgressMeter(on_progress), should_stop)
        return Transcription(detected, None, stream)

    def _stream(
        self,
        client: httpx.Client,
        piece: Window,
        answer: dict[str, Any],
        rest: Iterator[Window],
        asked: Asked,
        meter: ProgressMeter,
        should_stop: ShouldStop,
    ) -> Iterator[Segment]:
        not_before = 0.0
        try:
            while True:
                for segment in self._segments(answer, piece, not_before):
                    if should_stop():
                        raise TranscriptionCancelled()
                    not_before = segment.start_time
                    meter.report(segment.end_time)
                    yield segment
                meter.report(piece.end)
                if should_stop():
                    raise TranscriptionCancelled()
                following = next(rest, None)
                if following is None:
                    return
                piece = following
                answer = self._post(client, piece, asked)
        finally:
            client.close()

    def _post(self, client: httpx.Client, piece: Window, asked: Asked) -> dict[str, Any]:
        """One piece's verbose_json answer, retried per the module's rules; errors come out with the key scrubbed."""
        audio = wav_bytes(piece.audio)
        attempts = max(1, self.config.max_attempts)
        for attempt in range(1, attempts + 1):
            try:
                return self._attempt(client, audio, asked)
            except _Failure as exc:
                message = redact(exc.message, self.config.api_key)
                if not exc.retryable or attempt == attempts:
                    suffix = f" (gave up after {attempt} attempts)" if attempt > 1 else ""
                    raise RemoteTranscriptionError(f"transcription server: {message}{suffix}") from None
                delay = backoff_delay(attempt, self.config.backoff_seconds, exc.retry_after_seconds)
                log.warning(
                    "transcription request failed (%s); attempt %d of %d, retry in %.1f s",
                    message,
                    attempt,
                    attempts,
                    delay,
                )
                time.sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _attempt(self, client: httpx.Client, audio: bytes, asked: Asked) -> dict[str, Any]:
        url = self.config.endpoint_for(asked.task)
        form: dict[str, Any] = {
            "model": self.config.model,
            "response_format": "verbose_json",
            "timestamp_granularities[]": ["segment", "word"],
        }
        # The translation route takes no language: its output is English whatever was spoken.
        if asked.language and asked.task != "translate":
            form["language"] = asked.language
        if asked.vocabulary:
            form["prompt"] = asked.vocabulary  # names and terms to spell as given (Whisper's prompt)
        headers = {"Accept": "application/json"}
        if self.config.api_key:
            headers["Authorization"] = f"Bearer {self.config.api_key.strip()}"
        try:
            response = client.post(url, data=form, files={"file": ("audio.wav", audio, "audio/wav")}, headers=headers)
        except httpx.ReadTimeout:
            raise _Failure(
                f"POST {url} got no answer within {self.config.timeout_seconds:g} s "
                "(raise OPENTR_ASR_REMOTE_TIMEOUT_SECONDS for a slow server)",
                False,
            ) from None
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise _Failure(f"cannot send to {url}: {exc}", False) from None
        except httpx.TransportError as exc:
            raise _Failure(f"could not reach {url}: {type(exc).__name__}: {exc}", True) from None
        status = response.status_code
        if status >= 400:
            retryable = status in RETRYABLE_STATUSES or status >= 500
            raise _Failure(f"HTTP {status} from {url}: {snippet(response.text)}", retryable, retry_after(response))
        try:
            data = response.json()
        except ValueError:
            raise _Failure(f"answer from {url} is not JSON: {snippet(response.text)}", False) from None
        if not isinstance(data, dict):
            raise _Failure(f"answer from {url} is not a JSON object: {snippet(response.text)}", False)
        return data

    def _segments(self, answer: dict[str, Any], piece: Window, not_before: float) -> list[Segment]:
        try:
            return _parse(answer, piece, not_before)
        except ValueError as exc:
            message = f"malformed answer from {self.config.endpoint}: {exc}"
            raise RemoteTranscriptionError(redact(message, self.config.api_key)) from None


@dataclass(frozen=True)
class Asked:
    """What the caller asked of one run (the language: given, or detected from the first piece's answer)."""

    language: str | None
    task: Task = "transcribe"
    vocabulary: str | None = None


def _parse(answer: dict[str, Any], piece: Window, not_before: float) -> list[Segment]:
    """verbose_json -> segments: words come inside each segment (some servers) or in one top-level list (OpenAI),
    in which case each word joins the last segment starting at or before it."""
    raw_segments = answer.get("segments")
    if not isinstance(raw_segments, list):
        hint = " (does the server support response_format=verbose_json?)" if "text" in answer else ""
        raise ValueError(f"no list of segments{hint}: {snippet(str(answer))}")
    spans = [_span(raw, f"segment {i}") for i, raw in enumerate(raw_segments)]
    words: list[list[WindowWord]] = [[] for _ in spans]
    top_level = answer.get("words")
    for i, raw in enumerate(raw_segments):
        inner = raw.get("words")
        if isinstance(inner, list):
            words[i] = [_word(w, f"segment {i} word {j}") for j, w in enumerate(inner)]
    if isinstance(top_level, list) and spans and not any(words):
        starts = [start for start, _, _ in spans]
        for j, raw_word in enumerate(top_level):
            word = _word(raw_word, f"word {j}")
            words[max(0, bisect.bisect_right(starts, word.start) - 1)].append(word)
    placed = []
    for (start, end, text), segment_words in zip(spans, words, strict=True):
        segment = place(piece, start, end, text, segment_words, not_before)
        not_before = segment.start_time
        placed.append(segment)
    return placed


def _span(raw: Any, what: str) -> tuple[float, float, str]:
    if not isinstance(raw, dict):
        raise ValueError(f"{what} is not an object: {snippet(repr(raw))}")
    text = raw.get("text")
    if not isinstance(text, str):
        raise ValueError(f"{what} has no text")
    return _seconds(raw, "start", what), _seconds(raw, "end", what), text


def _word(raw: Any, what: str) -> WindowWord:
    if not isinstance(raw, dict):
        raise ValueError(f"{what} is not an object: {snippet(repr(raw))}")
    text = raw.get("word", raw.get("text"))
    if not isinstance(text, str):
        raise ValueError(f"{what} has no text")
    probability = _seconds(raw, "probability", what) if raw.get("probability") is not None else None
    return WindowWord(_seconds(raw, "start", what), _seconds(raw, "end", what), text.strip(), probability)


def _seconds(raw: dict[str, Any], key: str, what: str) -> float:
    value = raw.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{what} has no numeric {key!r} (got {snippet(repr(value))})")
    return float(value)


def wav_bytes(audio: Pcm) -> bytes:
    """16 kHz mono 16-bit PCM WAV: the smallest lossless form every server accepts; 44 bytes + 2 per sample."""
    samples = np.round(np.clip(audio, -1.0, 1.0) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(samples.tobytes())
    return buffer.getvalue()
