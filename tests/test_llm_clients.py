"""The LLM clients against real HTTP servers on 127.0.0.1 speaking each provider's API (or misbehaving)."""

from __future__ import annotations

import logging
import socket
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from llm import clients as llm_clients
from llm.clients import LlmError, LlmSettings
from tests.llm_servers import LocalServer, Reply, Responder, in_turn, openai_answer, serving

pytestmark = pytest.mark.same_on_every_server  # reaches no server DATABASE_URL / REDIS_URL name (see conftest)

SECRET = "sk-test-7f3b9c2e-DO-NOT-LEAK-41d8"
FAST = 0.01  # retry backoff in tests


@pytest.fixture
def serve() -> Iterator[Callable[[Responder], LocalServer]]:
    with serving() as start:
        yield start


def settings(provider: llm_clients.Provider, base_url: str | None, **changes: Any) -> LlmSettings:
    values: dict[str, Any] = {
        "provider": provider,
        "model_name": "test-model",
        "base_url": base_url,
        "api_key": SECRET,
        "max_tokens": 300,
        "temperature": 0.2,
        "timeout_seconds": 5,
        "max_attempts": 3,
    }
    values.update(changes)
    return LlmSettings(**values)


def assert_no_secret(exc: BaseException, caplog: pytest.LogCaptureFixture) -> None:
    assert SECRET not in str(exc)
    assert SECRET not in "".join(traceback.format_exception(exc))
    for record in caplog.records:
        assert SECRET not in record.getMessage()


def test_openai_compatible_request_and_answer(serve: Callable[[Responder], LocalServer]) -> None:
    server = serve(in_turn(Reply(body=openai_answer("The bottom line."))))
    answer = llm_clients.complete(settings("openai", f"{server.url}/v1/"), "Be brief.", "Summarise this.")
    assert answer.text == "The bottom line."
    assert (answer.input_tokens, answer.output_tokens, answer.stop_reason) == (21, 5, "stop")
    assert answer.latency_ms >= 0
    [request] = server.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "model": "test-model",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Summarise this."}],
        "max_tokens": 300,
        "temperature": 0.2,
    }


@pytest.mark.parametrize("provider", ["vllm", "custom", "openrouter"])
def test_other_openai_compatible_providers_use_the_given_base(
    serve: Callable[[Responder], LocalServer], provider: llm_clients.Provider
) -> None:
    server = serve(in_turn(Reply(body=openai_answer())))
    answer = llm_clients.complete(settings(provider, server.url, api_key=None), "s", "u")
    assert answer.text == "Hello there"
    assert server.requests[0].path == "/chat/completions"
    assert "authorization" not in server.requests[0].headers


@pytest.mark.parametrize("provider", ["vllm", "custom"])
def test_self_hosted_providers_require_a_base_url(provider: llm_clients.Provider) -> None:
    with pytest.raises(LlmError, match="needs a base_url") as raised:
        llm_clients.complete(settings(provider, None), "s", "u")
    assert raised.value.retryable is False


def test_base_url_without_scheme_is_explained() -> None:
    with pytest.raises(LlmError, match="must start with http:// or https://"):
        llm_clients.complete(settings("custom", "localhost:8000/v1"), "s", "u")


def test_anthropic_request_and_answer(serve: Callable[[Responder], LocalServer]) -> None:
    body = {
        "id": "msg_1",
        "type": "message",
        "content": [{"type": "text", "text": "Part one, "}, {"type": "text", "text": "part two."}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 40, "output_tokens": 9},
    }
    server = serve(in_turn(Reply(body=body)))
    answer = llm_clients.complete(settings("anthropic", server.url), "System rules.", "The question.")
    assert answer.text == "Part one, part two."
    assert (answer.input_tokens, answer.output_tokens, answer.stop_reason) == (40, 9, "end_turn")
    [request] = server.requests
    assert request.path == "/v1/messages"
    assert request.headers["x-api-key"] == SECRET
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in request.headers
    assert request.json() == {
        "model": "test-model",
        "system": "System rules.",
        "messages": [{"role": "user", "content": "The question."}],
        "max_tokens": 300,
        "temperature": 0.2,
    }


def test_ollama_request_and_answer(serve: Callable[[Responder], LocalServer]) -> None:
    body = {
        "model": "test-model",
        "message": {"role": "assistant", "content": "Local answer."},
        "done": True,
        "done_reason": "stop",
        "prompt_eval_count": 33,
        "eval_count": 4,
    }
    server = serve(in_turn(Reply(body=body)))
    answer = llm_clients.complete(settings("ollama", server.url, api_key=None), "sys", "user")
    assert answer.text == "Local answer."
    assert (answer.input_tokens, answer.output_tokens) == (33, 4)
    [request] = server.requests
    assert request.path == "/api/chat"
    assert "authorization" not in request.headers
    assert request.json() == {
        "model": "test-model",
        "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "user"}],
        "stream": False,
        "options": {"temperature": 0.2, "num_predict": 300},
    }


def test_non_json_answer_is_an_error_without_retry(serve: Callable[[Responder], LocalServer]) -> None:
    server = serve(in_turn(Reply(body="<html>Bad gateway page</html>")))
    with pytest.raises(LlmError, match=r"is not JSON: <html>Bad gateway page</html>") as raised:
        llm_clients.complete(settings("openai", server.url), "s", "u", backoff_seconds=FAST)
    assert raised.value.retryable is False
    assert len(server.requests) == 1


def test_json_without_choices_is_an_error(serve: Callable[[Responder], LocalServer]) -> None:
    server = serve(in_turn(Reply(body={"object": "chat.completion", "note": "nothing here"})))
    with pytest.raises(LlmError, match="answer has no choices") as raised:
        llm_clients.complete(settings("openai", server.url), "s", "u", backoff_seconds=FAST)
    assert raised.value.retryable is False


def test_slow_server_times_out(serve: Callable[[Responder], LocalServer], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server = serve(in_turn(Reply(body=openai_answer(), sleep=10)))
    slow = settings("openai", server.url, timeout_seconds=0.3, max_attempts=2)
    with pytest.raises(LlmError, match=r"timed out after 0.3 s \(gave up after 2 attempts\)") as raised:
        llm_clients.complete(slow, "s", "u", backoff_seconds=FAST)
    assert raised.value.retryable is True
    assert len(server.requests) == 2
    assert_no_secret(raised.value, caplog)


def test_server_errors_are_retried_until_success(
    serve: Callable[[Responder], LocalServer], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    oops = Reply(500, {"error": {"message": "upstream overloaded"}})
    server = serve(in_turn(oops, oops, Reply(body=openai_answer("finally"))))
    answer = llm_clients.complete(settings("openai", server.url), "s", "u", backoff_seconds=FAST)
    assert answer.text == "finally"
    assert len(server.requests) == 3
    retries = [r.getMessage() for r in caplog.records if r.name == "llm.clients"]
    assert len(retries) == 2 and "HTTP 500" in retries[0] and "attempt 1 of 3" in retries[0]


def test_rate_limit_is_retried(serve: Callable[[Responder], LocalServer]) -> None:
    server = serve(in_turn(Reply(429, {"error": "slow down"}), Reply(body=openai_answer("ok"))))
    assert llm_clients.complete(settings("openai", server.url), "s", "u", backoff_seconds=FAST).text == "ok"
    assert len(server.requests) == 2


def test_persistent_server_error_gives_up_after_max_attempts(serve: Callable[[Responder], LocalServer]) -> None:
    server = serve(in_turn(Reply(503, "maintenance")))
    with pytest.raises(LlmError, match=r"HTTP 503 from .*: maintenance \(gave up after 2 attempts\)") as raised:
        llm_clients.complete(settings("openai", server.url, max_attempts=2), "s", "u", backoff_seconds=FAST)
    assert raised.value.retryable is True
    assert len(server.requests) == 2


def test_unauthorised_is_not_retried_and_never_shows_the_key(
    serve: Callable[[Responder], LocalServer], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    echo = {"error": {"message": f"Incorrect API key provided: {SECRET}.", "padding": "x" * 500}}
    server = serve(in_turn(Reply(401, echo)))
    with pytest.raises(LlmError) as raised:
        llm_clients.complete(settings("openai", f"{server.url}/v1"), "s", "u", backoff_seconds=FAST)
    message = raised.value.message
    assert message.startswith(f"HTTP 401 from {server.url}/v1/chat/completions: ")
    assert "Incorrect API key provided: [redacted]" in message
    assert len(message.split(": ", 1)[1]) <= 201  # the body is cut to 200 characters (+ an ellipsis)
    assert raised.value.retryable is False
    assert len(server.requests) == 1
    assert_no_secret(raised.value, caplog)


def test_key_in_the_base_url_is_not_shown_either(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    refused = settings("custom", f"http://127.0.0.1:{port}/{SECRET}/v1", max_attempts=2)
    with pytest.raises(LlmError, match="could not reach") as raised:
        llm_clients.complete(refused, "s", "u", backoff_seconds=FAST)
    assert raised.value.retryable is True
    assert "[redacted]" in raised.value.message
    assert_no_secret(raised.value, caplog)


def test_settings_repr_hides_the_key() -> None:
    assert SECRET not in repr(settings("openai", None))


def test_connection_test_reports_success(serve: Callable[[Responder], LocalServer]) -> None:
    server = serve(in_turn(Reply(body=openai_answer("OK"))))
    ok, latency_ms, message = llm_clients.test_connection(settings("openai", server.url, max_tokens=4000))
    assert ok is True and latency_ms >= 0
    assert message == f"test-model answered in {latency_ms} ms: 'OK'"
    assert server.requests[0].json()["max_tokens"] == 16


def test_connection_test_reports_failure_once_and_without_the_key(serve: Callable[[Responder], LocalServer]) -> None:
    server = serve(in_turn(Reply(401, {"error": f"bad key {SECRET}"})))
    ok, latency_ms, message = llm_clients.test_connection(settings("anthropic", server.url))
    assert ok is False and latency_ms >= 0
    assert message.startswith("HTTP 401 from") and SECRET not in message
    assert len(server.requests) == 1


# -- listing a provider's models -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "suffix", "path", "answer", "expected"),
    [
        (
            "openai",
            "/v1",
            "/v1/models",
            {"object": "list", "data": [{"id": "gpt-b"}, {"id": "gpt-a"}, {"x": 1}, {"id": "gpt-a"}]},
            ["gpt-a", "gpt-b"],
        ),
        ("vllm", "/v1", "/v1/models", {"data": [{"id": "Qwen/Qwen2.5-7B", "object": "model"}]}, ["Qwen/Qwen2.5-7B"]),
        (
            "ollama",
            "",
            "/api/tags",
            {"models": [{"name": "qwen2.5:7b"}, {"name": "llama3.1:latest"}]},
            ["llama3.1:latest", "qwen2.5:7b"],
        ),
        (
            "anthropic",
            "",
            "/v1/models?limit=1000",
            {"data": [{"id": "claude-x", "type": "model"}], "has_more": False},
            ["claude-x"],
        ),
    ],
)
def test_models_are_listed_with_each_providers_request(
    serve: Callable[[Responder], LocalServer],
    provider: Any,
    suffix: str,
    path: str,
    answer: dict[str, Any],
    expected: list[str],
) -> None:
    server = serve(lambda _: Reply(body=answer))
    assert llm_clients.list_models(settings(provider, server.url + suffix)) == expected
    (request,) = server.requests
    assert request.path == path
    if provider == "anthropic":
        assert (request.headers["x-api-key"], request.headers["anthropic-version"]) == (SECRET, "2023-06-01")
    else:
        assert request.headers["authorization"] == f"Bearer {SECRET}"


def test_listing_models_fails_readably_without_the_key(
    serve: Callable[[Responder], LocalServer], caplog: pytest.LogCaptureFixture
) -> None:
    for reply, expected in [
        (Reply(status=401, body={"error": f"bad key {SECRET}"}), "HTTP 401"),
        (Reply(body="<html>"), "not JSON"),
        (Reply(body={"data": "nope"}), "lists no models"),
        (Reply(body=[1, 2]), "lists no models"),
    ]:
        server = serve(lambda _, reply=reply: reply)  # type: ignore[misc]
        with pytest.raises(LlmError) as info:
            llm_clients.list_models(settings("custom", server.url))
        assert expected in info.value.message and SECRET not in info.value.message
        assert_no_secret(info.value, caplog)


def test_listing_models_times_out(serve: Callable[[Responder], LocalServer]) -> None:
    server = serve(lambda _: Reply(body={"data": []}, sleep=5))
    with pytest.raises(LlmError) as info:
        llm_clients.list_models(settings("custom", server.url, timeout_seconds=0.3))
    assert "timed out after 0.3 s" in info.value.message
