"""The OpenAI-compatible engine against real local HTTP servers that answer, fail, stall or talk nonsense."""

from __future__ import annotations

import io
import itertools
import logging
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesParser
from typing import Any

import numpy as np
import pytest

from asr.errors import RemoteTranscriptionError, TranscriptionCancelled, TranscriptionError
from asr.remote import WAV_HEADER_BYTES, RemoteConfig, RemoteEngine
from asr.types import SAMPLE_RATE, Pcm, Transcription
from tests.llm_servers import LocalServer, Received, Reply, in_turn, serving
from transcript.segments import Segment, Word

pytestmark = pytest.mark.same_on_every_server  # reaches no server DATABASE_URL / REDIS_URL name (see conftest)

KEY = "sk-asr-test-7f3a9c1d2e"


@dataclass(frozen=True)
class Upload:
    fields: dict[str, list[str]]
    seconds: float
    channels: int
    rate: int
    width: int
    size: int


def upload_of(request: Received) -> Upload:
    """The multipart form a request carried, with its WAV file described."""
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = BytesParser().parsebytes(head + request.raw)
    fields: dict[str, list[str]] = {}
    audio = b""
    for part in message.get_payload():
        assert isinstance(part, Message)
        name = str(part.get_param("name", header="content-disposition"))
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        if name == "file":
            audio = payload
        else:
            fields.setdefault(name, []).append(payload.decode())
    with wave.open(io.BytesIO(audio)) as wav:
        seconds = wav.getnframes() / wav.getframerate()
        return Upload(fields, seconds, wav.getnchannels(), wav.getframerate(), wav.getsampwidth(), len(audio))


def verbose_json(request: Received) -> Reply:
    """What OpenAI answers: two segments over the piece, the words in one top-level list."""
    half = upload_of(request).seconds / 2
    return Reply(
        body={
            "task": "transcribe",
            "language": "english",
            "duration": 2 * half,
            "text": "Good morning. Welcome.",
            "segments": [
                {"id": 0, "start": 0.0, "end": half, "text": " Good morning."},
                {"id": 1, "start": half, "end": 2 * half, "text": " Welcome."},
            ],
            "words": [
                {"word": "Good", "start": 0.1, "end": 0.4},
                {"word": "morning.", "start": 0.5, "end": half - 0.1},
                {"word": "Welcome.", "start": half + 0.1, "end": 2 * half - 0.1},
            ],
        }
    )


def nested_words(request: Received) -> Reply:
    """What speaches / faster-whisper-server answer: words inside each segment, with probabilities."""
    seconds = upload_of(request).seconds
    word = {"word": " Hello", "start": 0.2, "end": 0.6, "probability": 0.9}
    segment = {"start": 0.1, "end": seconds, "text": "Hello", "words": [word]}
    return Reply(body={"language": "en", "segments": [segment]})


def audio(seconds: float) -> Pcm:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)


def chunks(signal: Pcm, step_seconds: float = 1.5) -> Iterator[Pcm]:
    step = int(step_seconds * SAMPLE_RATE)
    for i in range(0, signal.size, step):
        yield signal[i : i + step]


def engine(server: LocalServer, **changes: Any) -> RemoteEngine:
    settings: dict[str, Any] = {"url": server.url, "model": "whisper-large", "api_key": KEY, "backoff_seconds": 0.01}
    return RemoteEngine(RemoteConfig(**{**settings, **changes}))


def transcribe(
    remote: RemoteEngine,
    signal: Pcm,
    language: str | None = None,
    progress: list[float] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> Transcription:
    return remote.transcribe(
        chunks(signal),
        total_seconds=signal.size / SAMPLE_RATE,
        language=language,
        on_progress=(progress if progress is not None else []).append,
        should_stop=should_stop,
    )


def test_success_maps_segments_words_and_language(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with serving() as start:
        server = start(verbose_json)
        transcription = transcribe(engine(server), audio(3.0))
        segments = list(transcription.segments)

    assert transcription.language == "en" and transcription.language_probability is None
    assert [(s.start_time, s.end_time, s.text) for s in segments] == [
        (0.0, 1.5, "Good morning."),
        (1.5, 3.0, "Welcome."),
    ]
    assert segments[0].words == (Word("Good", 0.1, 0.4), Word("morning.", 0.5, 1.4))
    assert segments[1].words == (Word("Welcome.", 1.6, 2.9),)  # no probability: no score
    (request,) = server.requests
    sent = upload_of(request)
    assert request.path == "/v1/audio/transcriptions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert sent.fields == {
        "model": ["whisper-large"],
        "response_format": ["verbose_json"],
        "timestamp_granularities[]": ["segment", "word"],
    }
    assert (sent.channels, sent.rate, sent.width, sent.seconds) == (1, 16000, 2, 3.0)
    assert KEY not in caplog.text


def test_words_inside_segments_and_a_given_language() -> None:
    with serving() as start:
        server = start(nested_words)
        remote = engine(server, url=f"{server.url}/v1/")
        transcription = transcribe(remote, audio(2.0), language="de")
        segments = list(transcription.segments)

    assert transcription.language == "de"
    assert segments == [Segment(0.1, 2.0, "Hello", None, (Word("Hello", 0.2, 0.6, 0.9),))]
    assert upload_of(server.requests[0]).fields["language"] == ["de"]
    assert server.requests[0].path == "/v1/audio/transcriptions"


def test_a_long_recording_goes_up_in_pieces_under_the_limit_with_stitched_times() -> None:
    limit = WAV_HEADER_BYTES + 2 * 2 * SAMPLE_RATE  # two seconds of 16-bit mono
    progress: list[float] = []
    with serving() as start:
        server = start(verbose_json)
        transcription = transcribe(engine(server, max_upload_bytes=limit), audio(7.0), progress=progress)
        assert len(server.requests) == 1  # the first piece is sent eagerly, the rest as segments are consumed
        segments = list(transcription.segments)

    uploads = [upload_of(r) for r in server.requests]
    assert [u.seconds for u in uploads] == [2.0, 2.0, 2.0, 1.0]
    assert all(u.size <= limit for u in uploads)
    assert [s.start_time for s in segments] == pytest.approx([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 6.5])
    assert [(s.words or ())[0].start for s in segments[::2]] == pytest.approx([0.1, 2.1, 4.1, 6.1])
    assert all(a < b for a, b in itertools.pairwise(progress)) and progress[-1] == pytest.approx(7.0)
    assert all(u.fields["language"] == ["en"] for u in uploads[1:])  # the first answer's language is kept


def test_429_then_success_waits_as_told(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="opentr.asr.remote")
    busy = Reply(429, {"error": {"message": "rate limited"}}, headers={"Retry-After": "0.2"})
    with serving() as start:
        server = start(lambda request: busy if len(server.requests) <= 2 else verbose_json(request))
        segments = list(transcribe(engine(server), audio(2.0)).segments)

    assert len(server.requests) == 3 and len(segments) == 2
    retries = [r.getMessage() for r in caplog.records]
    assert len(retries) == 2 and all("HTTP 429" in m and "retry in 0.2 s" in m for m in retries)


def test_500_every_time_gives_up_with_a_clear_error() -> None:
    with serving() as start:
        server = start(in_turn(Reply(500, "upstream exploded")))
        with pytest.raises(RemoteTranscriptionError) as caught:
            transcribe(engine(server, max_attempts=3), audio(1.0))

    assert len(server.requests) == 3
    assert str(caught.value) == (
        f"transcription server: HTTP 500 from {server.url}/v1/audio/transcriptions: upstream exploded "
        "(gave up after 3 attempts)"
    )
    assert isinstance(caught.value, TranscriptionError)


def test_a_slow_server_times_out_once_without_retrying() -> None:
    with serving() as start:
        server = start(in_turn(Reply(200, {"segments": []}, sleep=10)))
        with pytest.raises(RemoteTranscriptionError, match=r"got no answer within 0\.3 s \(raise OPENTR_ASR_REMOTE"):
            transcribe(engine(server, timeout_seconds=0.3), audio(1.0))

    assert len(server.requests) == 1


def test_an_unreachable_server_is_retried_then_reported() -> None:
    remote = RemoteEngine(RemoteConfig(url="http://127.0.0.1:9", max_attempts=2, backoff_seconds=0.01))
    with pytest.raises(RemoteTranscriptionError, match=r"could not reach http://127\.0\.0\.1:9/.*gave up after 2"):
        transcribe(remote, audio(1.0))


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("<html>502 Bad Gateway</html>", "is not JSON: <html>502 Bad Gateway</html>"),
        ([1, 2, 3], "is not a JSON object"),
        ({"text": "hello"}, "no list of segments (does the server support response_format=verbose_json?)"),
        ({"segments": [{"start": "0", "end": 1.0, "text": "x"}]}, "segment 0 has no numeric 'start' (got '0')"),
        ({"segments": [{"start": 0.0, "end": None, "text": "x"}]}, "segment 0 has no numeric 'end' (got None)"),
        ({"segments": [{"start": 0.0, "end": 1.0}]}, "segment 0 has no text"),
        ({"segments": ["hello"]}, "segment 0 is not an object"),
        ({"segments": [{"start": 0, "end": 1, "text": "x"}], "words": [{"word": "x", "start": 0}]}, "word 0 has no"),
    ],
)
def test_a_garbage_answer_is_a_clear_error(body: Any, expected: str) -> None:
    with serving() as start:
        server = start(in_turn(Reply(200, body)))
        with pytest.raises(RemoteTranscriptionError) as caught:
            list(transcribe(engine(server), audio(1.0)).segments)

    assert expected in str(caught.value)
    assert len(server.requests) == 1  # a nonsense answer is not retried


def test_should_stop_ends_the_run_before_the_next_upload() -> None:
    limit = WAV_HEADER_BYTES + 2 * 2 * SAMPLE_RATE
    seen: list[Segment] = []
    with serving() as start:
        server = start(verbose_json)
        transcription = transcribe(
            engine(server, max_upload_bytes=limit), audio(7.0), should_stop=lambda: len(seen) >= 2
        )
        with pytest.raises(TranscriptionCancelled):
            for segment in transcription.segments:
                seen.append(segment)

    assert len(seen) == 2 and len(server.requests) == 1


def test_the_key_is_in_no_log_line_and_no_error(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    def echo(request: Received) -> Reply:  # a server that repeats the credentials back, as some proxies do
        return Reply(503, f"bad gateway for {request.headers['authorization']}")

    with serving() as start:
        server = start(echo)
        with pytest.raises(RemoteTranscriptionError) as caught:
            transcribe(engine(server, max_attempts=3), audio(1.0))

    assert "Bearer [redacted]" in str(caught.value) and KEY not in str(caught.value)
    assert len(caplog.records) >= 2 and "[redacted]" in caplog.text
    assert KEY not in caplog.text
    assert KEY not in repr(engine(server).config)


def test_an_upload_limit_below_one_second_is_refused() -> None:
    with pytest.raises(TranscriptionError, match="OPENTR_ASR_REMOTE_MAX_UPLOAD_MB is too small"):
        RemoteEngine(RemoteConfig(url="http://127.0.0.1:9", max_upload_bytes=20_000))
