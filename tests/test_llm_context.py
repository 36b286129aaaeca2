"""A model's context window (llm/context.py): configured, else read from its server where the server says it
(vLLM, OpenRouter, LM Studio, llama.cpp, Ollama: stand-ins on loopback answering as each does), else the
provider's default."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from llm import context
from llm.clients import LlmSettings, Provider
from llm.context import DEFAULT_CONTEXT_TOKENS, OLLAMA_DEFAULT_NUM_CTX, PROVIDER_DEFAULTS, ContextWindow, context_window
from tests.llm_servers import LocalServer, Received, Reply, Responder, in_turn, serving

pytestmark = pytest.mark.same_on_every_server  # reaches no server DATABASE_URL / REDIS_URL name (see conftest)


@pytest.fixture
def serve() -> Iterator[Callable[[Responder], LocalServer]]:
    context.forget()
    with serving() as start:
        yield start
    context.forget()


def settings(provider: Provider, base_url: str | None, model: str = "stand-in") -> LlmSettings:
    return LlmSettings(provider, model, base_url, "sk-secret", 500, 0.2, 5, 1)


def models(*entries: dict[str, Any]) -> Responder:
    return in_turn(Reply(body={"object": "list", "data": list(entries)}))


@pytest.mark.parametrize(
    ("provider", "path", "entry", "tokens"),
    [
        ("vllm", "/v1", {"id": "stand-in", "object": "model", "max_model_len": 32768}, 32768),
        ("openrouter", "/api/v1", {"id": "stand-in", "context_length": 200_000, "pricing": {}}, 200_000),
        ("custom", "/v1", {"id": "stand-in", "max_context_length": 16384}, 16384),  # LM Studio
        ("custom", "/v1", {"id": "stand-in", "meta": {"n_ctx_train": 4096, "n_vocab": 32000}}, 4096),  # llama.cpp
    ],
)
def test_the_window_is_read_from_the_servers_model_listing(
    serve: Callable[[Responder], LocalServer], provider: Provider, path: str, entry: dict[str, Any], tokens: int
) -> None:
    server = serve(models({"id": "another-model", "max_model_len": 999}, entry))
    assert context_window(settings(provider, server.url + path), None) == ContextWindow(tokens, "server")
    [asked] = server.requests
    assert asked.path == f"{path}/models" and asked.headers["authorization"] == "Bearer sk-secret"
    # asked once per server and model: the second time it is remembered
    assert context_window(settings(provider, server.url + path), None) == ContextWindow(tokens, "server")
    assert len(server.requests) == 1


def show(body: dict[str, Any]) -> Responder:
    def respond(received: Received) -> Reply:
        assert received.path == "/api/show" and received.json() == {"model": "stand-in"}
        return Reply(body=body)

    return respond


@pytest.mark.parametrize(
    ("body", "tokens"),
    [
        # num_ctx among its parameters is what the model runs with, whatever it was trained for
        ({"parameters": "stop <|eot|>\nnum_ctx 16384", "model_info": {"llama.context_length": 131072}}, 16384),
        # without num_ctx Ollama runs the model with its own default window, not the trained one
        ({"parameters": "", "model_info": {"llama.context_length": 131072}}, OLLAMA_DEFAULT_NUM_CTX),
        ({"model_info": {"qwen2.context_length": 2048}}, 2048),
        ({"modelfile": "FROM x"}, OLLAMA_DEFAULT_NUM_CTX),
    ],
)
def test_ollama_says_num_ctx_else_its_default_window_is_what_counts(
    serve: Callable[[Responder], LocalServer], body: dict[str, Any], tokens: int
) -> None:
    server = serve(show(body))
    assert context_window(settings("ollama", server.url), None) == ContextWindow(tokens, "server")


@pytest.mark.parametrize(
    ("provider", "reply"),
    [
        ("vllm", Reply(body={"object": "list", "data": [{"id": "other", "max_model_len": 1000}]})),
        ("custom", Reply(body={"object": "list", "data": [{"id": "stand-in", "owned_by": "me"}]})),
        ("custom", Reply(body={"models": "none"})),
        ("custom", Reply(status=404, body={"error": "not found"})),
        ("custom", Reply(body="<html>hello</html>", headers={"Content-Type": "text/html"})),
        ("openrouter", Reply(status=500, body={"error": "boom"})),
    ],
)
def test_a_server_that_says_nothing_gives_the_providers_default(
    serve: Callable[[Responder], LocalServer], provider: Provider, reply: Reply
) -> None:
    server = serve(in_turn(reply))
    expected = PROVIDER_DEFAULTS.get(provider, DEFAULT_CONTEXT_TOKENS)
    assert context_window(settings(provider, server.url + "/v1"), None) == ContextWindow(expected, "default")
    assert len(server.requests) == 1


def test_what_its_owner_configured_wins_and_nothing_is_asked(serve: Callable[[Responder], LocalServer]) -> None:
    server = serve(models({"id": "stand-in", "max_model_len": 32768}))
    assert context_window(settings("vllm", server.url + "/v1"), 12000) == ContextWindow(12000, "configured")
    assert server.requests == []


def test_openai_and_anthropic_are_not_asked() -> None:
    assert context_window(settings("openai", None), None) == ContextWindow(128_000, "default")
    assert context_window(settings("anthropic", "https://api.anthropic.com"), None) == ContextWindow(200_000, "default")


def test_a_server_that_is_down_gives_the_default(serve: Callable[[Responder], LocalServer]) -> None:
    with socket.socket() as closed:  # a port nothing listens on: the connection is refused at once
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    down = settings("vllm", f"http://127.0.0.1:{port}/v1")
    assert context_window(down, None) == ContextWindow(DEFAULT_CONTEXT_TOKENS, "default")
    assert context_window(settings("ollama", f"http://127.0.0.1:{port}"), None) == ContextWindow(
        DEFAULT_CONTEXT_TOKENS, "default"
    )
