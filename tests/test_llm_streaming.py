"""Streamed answers (llm/streaming.py) from real HTTP servers on 127.0.0.1: OpenAI-compatible server-sent events,
the one-piece fallback of the other providers, and every way a stream can fail (each an LlmError, key never shown)."""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from llm import streaming
from llm.clients import LlmError, LlmSettings, Provider
from tests.llm_servers import LocalServer, Reply, Responder, in_turn, openai_answer, openai_stream, serving

pytestmark = pytest.mark.same_on_every_server  # reaches no server DATABASE_URL / REDIS_URL name (see conftest)

SECRET = "sk-stream-5d1e-DO-NOT-LEAK-9a0c"


@pytest.fixture
def serve() -> Iterator[Callable[[Responder], LocalServer]]:
    with serving() as start:
        yield start


def settings(provider: Provider, base_url: str, **changes: Any) -> LlmSettings:
    values: dict[str, Any] = {
        "provider": provider,
        "model_name": "test-model",
        "base_url": base_url,
        "api_key": SECRET,
        "max_tokens": 300,
        "temperature": 0.2,
        "timeout_seconds": 5,
        "max_attempts": 1,
    }
    return LlmSettings(**(values | changes))


def failure(server: LocalServer, caplog: pytest.LogCaptureFixture, **changes: Any) -> LlmError:
    with caplog.at_level(logging.DEBUG), pytest.raises(LlmError) as raised:
        list(streaming.stream(settings("custom", server.url, **changes), "system", "user"))
    assert SECRET not in "".join(traceback.format_exception(raised.value))
    assert all(SECRET not in record.getMessage() for record in caplog.records)
    return raised.value


def test_an_openai_compatible_answer_arrives_in_its_pieces(serve: Callable[[Responder], LocalServer]) -> None:
    pieces = ("会議は", "月曜日 [1]。", " مرحبا 🎙️")
    server = serve(in_turn(Reply(events=openai_stream(*pieces))))
    got = list(streaming.stream(settings("vllm", f"{server.url}/v1"), "Be brief.", "Question?"))
    assert got == list(pieces)
    [request] = server.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["accept"] == "text/event-stream"
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    sent = request.json()
    assert sent["stream"] is True and sent["model"] == "test-model"
    assert sent["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Question?"}]


def test_a_server_that_ignores_stream_answers_in_one_piece(serve: Callable[[Responder], LocalServer]) -> None:
    server = serve(in_turn(Reply(body=openai_answer("Whole answer [2]."))))
    assert list(streaming.stream(settings("openai", server.url), "s", "u")) == ["Whole answer [2]."]


@pytest.mark.parametrize(
    ("provider", "body", "path"),
    [
        ("anthropic", {"content": [{"type": "text", "text": "Kurz: ja [1]."}], "usage": {}}, "/v1/messages"),
        ("ollama", {"message": {"role": "assistant", "content": "Kurz: ja [1]."}}, "/api/chat"),
    ],
)
def test_other_providers_answer_once_as_one_piece(
    serve: Callable[[Responder], LocalServer], provider: Provider, body: dict[str, Any], path: str
) -> None:
    server = serve(in_turn(Reply(body=body)))
    assert list(streaming.stream(settings(provider, server.url), "s", "u")) == ["Kurz: ja [1]."]
    [request] = server.requests
    assert request.path == path and request.json().get("stream") in (None, False)


def test_a_server_that_does_not_answer_in_time_is_a_timeout(
    serve: Callable[[Responder], LocalServer], caplog: pytest.LogCaptureFixture
) -> None:
    server = serve(in_turn(Reply(events=openai_stream("never"), stall_after=0, sleep=10)))
    error = failure(server, caplog, timeout_seconds=0.3)
    assert error.timed_out and "timed out after 0.3 s" in error.message


def test_a_stream_that_stalls_after_its_first_piece_times_out_and_is_not_retried(
    serve: Callable[[Responder], LocalServer],
) -> None:
    server = serve(in_turn(Reply(events=openai_stream("first", "second"), stall_after=2, sleep=10)))
    received: list[str] = []
    with pytest.raises(LlmError) as raised:
        for piece in streaming.stream(settings("custom", server.url, timeout_seconds=0.3, max_attempts=3), "s", "u"):
            received.append(piece)
    assert received == ["first"] and raised.value.timed_out
    assert len(server.requests) == 1, "a piece was delivered: nothing is asked again"


def test_a_failure_before_the_first_piece_is_retried(serve: Callable[[Responder], LocalServer]) -> None:
    server = serve(in_turn(Reply(status=503, body={"error": "busy"}), Reply(events=openai_stream("ok"))))
    got = list(streaming.stream(settings("custom", server.url, max_attempts=2), "s", "u", backoff_seconds=0.01))
    assert got == ["ok"] and len(server.requests) == 2


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        (Reply(status=401, body={"error": {"message": f"bad key {SECRET}"}}), "HTTP 401"),
        (Reply(body="<html>proxy says hello</html>", headers={"Content-Type": "text/html"}), "not an event stream"),
        (Reply(events=("{not json",)), "is not JSON"),
        (Reply(events=('["a list"]',)), "not a JSON object"),
        (Reply(events=(json.dumps({"error": {"message": "overloaded"}}),)), "reported an error"),
        (Reply(events=(json.dumps({"id": "x"}),)), "has no choices"),
        (Reply(events=openai_stream("cut", finish=None)), "broke off"),
    ],
)
def test_garbage_and_errors_are_llm_errors_without_the_key(
    serve: Callable[[Responder], LocalServer], caplog: pytest.LogCaptureFixture, reply: Reply, words: str
) -> None:
    server = serve(in_turn(reply))
    error = failure(server, caplog)
    assert words in error.message and not error.timed_out


def usage_chunk(prompt_tokens: int, completion_tokens: int) -> str:
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": 0}
    return json.dumps({"id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": [], "usage": usage})


def test_the_cost_is_read_from_the_last_chunk_when_asked_for(serve: Callable[[Responder], LocalServer]) -> None:
    chunks = openai_stream("Größe ", "予算")
    server = serve(in_turn(Reply(events=(*chunks[:-1], usage_chunk(88, 4), chunks[-1]))))
    usage = streaming.Usage()
    assert "".join(streaming.stream(settings("vllm", f"{server.url}/v1"), "s", "u", usage=usage)) == "Größe 予算"
    assert server.requests[0].json()["stream_options"] == {"include_usage": True}
    assert (usage.input_tokens, usage.output_tokens) == (88, 4)


@pytest.mark.parametrize(
    "reply",
    [Reply(events=openai_stream("no usage said")), Reply(body={"choices": [{"message": {"content": "whole"}}]})],
)
def test_a_server_that_says_no_cost_leaves_it_unknown(serve: Callable[[Responder], LocalServer], reply: Reply) -> None:
    server = serve(in_turn(reply))
    usage = streaming.Usage()
    assert "".join(streaming.stream(settings("custom", server.url), "s", "u", usage=usage))
    assert (usage.input_tokens, usage.output_tokens) == (None, None)


def test_a_whole_answer_says_its_cost_too(serve: Callable[[Responder], LocalServer]) -> None:
    server = serve(in_turn(Reply(body=openai_answer("Whole", prompt_tokens=30, completion_tokens=2))))
    usage = streaming.Usage()
    assert list(streaming.stream(settings("openai", server.url), "s", "u", usage=usage)) == ["Whole"]
    assert (usage.input_tokens, usage.output_tokens) == (30, 2)


def test_a_server_that_refuses_stream_options_is_asked_again_without_them(
    serve: Callable[[Responder], LocalServer],
) -> None:
    refused = Reply(status=400, body={"error": {"message": "Unrecognized request argument supplied: stream_options"}})
    server = serve(in_turn(refused, Reply(events=openai_stream("fine"))))
    usage = streaming.Usage()
    assert list(streaming.stream(settings("custom", server.url), "s", "u", usage=usage)) == ["fine"]
    first, second = (request.json() for request in server.requests)
    assert "stream_options" in first and "stream_options" not in second and second["stream"] is True
    assert usage.input_tokens is None


def test_another_400_is_not_asked_again(
    serve: Callable[[Responder], LocalServer], caplog: pytest.LogCaptureFixture
) -> None:
    server = serve(in_turn(Reply(status=400, body={"error": "model not found"})))
    assert "HTTP 400" in failure(server, caplog, max_attempts=3).message
    assert len(server.requests) == 1
