"""One chat request whose answer arrives piece by piece, for a person waiting on it (asking one's recordings).

OpenAI-compatible servers (openai, openrouter, vllm, custom) are asked with `"stream": true` and answer with
server-sent events: `data: {json chunk}` lines, each carrying `choices[0].delta.content`, and `data: [DONE]` at the
end. A server that ignores `stream` and answers one JSON object is read as `complete` reads it. Other providers
(Anthropic, Ollama) are asked once without streaming and their answer is delivered as one piece.

What the answer cost goes into the caller's `Usage`, if given: OpenAI-compatible servers are asked for it with
`stream_options: {"include_usage": true}` and say it in a last chunk (`usage`, with no choices); a server that says
nothing leaves it None (the caller estimates, repo/llm_usage.py); one that refuses the option (a 400 naming it)
is asked again at once without it.

Failures are those of `complete` (llm/clients.py): every one is an `LlmError` whose message never contains the api
key; a timeout says so (`timed_out`). Failures before the first piece (unreachable, 429, 5xx, a read timeout) are
retried with the same backoff; once a piece has been delivered nothing is retried (the reader has it already), and
a stream that breaks off, times out between pieces or carries garbage ends in an LlmError too.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from llm.clients import (
    CONNECT_TIMEOUT_SECONDS,
    OPENAI_COMPATIBLE,
    RETRYABLE_STATUSES,
    LlmError,
    LlmSettings,
    _build_request,
    _parse_openai,
    _Request,
    complete,
)
from outbound.retries import backoff_delay, redact
from outbound.retries import retry_after as _retry_after
from outbound.retries import snippet as _snippet

log = logging.getLogger(__name__)
SSE_FIELDS = ("event:", "id:", "retry:", ":")  # lines of an event stream that carry no data (":" is a comment)


@dataclass
class Usage:
    """The tokens the server reported for the answer; None where it reported nothing."""

    input_tokens: int | None = None
    output_tokens: int | None = None


def stream(
    settings: LlmSettings,
    system_prompt: str,
    user_prompt: str,
    *,
    backoff_seconds: float = 1.0,
    usage: Usage | None = None,
) -> Generator[str, None, None]:
    """The answer's text in pieces, in order (their concatenation is the whole answer); LlmError when it fails.
    Closing the generator early closes the connection to the server. `usage` is filled in as the server says it."""
    usage = usage if usage is not None else Usage()
    try:
        if settings.provider in OPENAI_COMPATIBLE:
            yield from _stream_openai(settings, system_prompt, user_prompt, backoff_seconds, usage)
        else:
            answer = complete(settings, system_prompt, user_prompt, backoff_seconds=backoff_seconds)
            usage.input_tokens, usage.output_tokens = answer.input_tokens, answer.output_tokens
            yield answer.text
    except LlmError as exc:
        raise LlmError(redact(exc.message, settings.api_key), exc.retryable, timed_out=exc.timed_out) from None


def _stream_openai(
    settings: LlmSettings, system_prompt: str, user_prompt: str, backoff_seconds: float, usage: Usage
) -> Iterator[str]:
    request = _build_request(settings, system_prompt, user_prompt)
    request.body["stream"] = True
    request.body["stream_options"] = {"include_usage": True}
    request.headers["Accept"] = "text/event-stream"
    timeout = httpx.Timeout(settings.timeout_seconds, connect=min(CONNECT_TIMEOUT_SECONDS, settings.timeout_seconds))
    attempts = max(1, settings.max_attempts)
    with httpx.Client(timeout=timeout) as client:
        attempt = 1
        while True:
            delivered = False
            try:
                for piece in _attempt(client, request, settings.timeout_seconds, usage):
                    delivered = True
                    yield piece
                return
            except LlmError as exc:
                if not delivered and "stream_options" in request.body and _refused_options(exc):
                    # A server that knows no stream_options (older Azure OpenAI versions refuse what they do not
                    # know) is asked again at once without it, not counted as an attempt; its cost is estimated.
                    del request.body["stream_options"]
                    continue
                if delivered or not exc.retryable or attempt == attempts:
                    if attempt > 1:
                        message = f"{exc.message} (gave up after {attempt} attempts)"
                        raise LlmError(message, exc.retryable, timed_out=exc.timed_out) from None
                    raise
                delay = backoff_delay(attempt, backoff_seconds, exc.retry_after_seconds)
                log.warning(
                    "LLM stream failed (%s); attempt %d of %d, retrying in %.1f s",
                    redact(exc.message, settings.api_key),
                    attempt,
                    attempts,
                    delay,
                )
                time.sleep(delay)
                attempt += 1


def _refused_options(exc: LlmError) -> bool:
    return exc.message.startswith(("HTTP 400 ", "HTTP 422 ")) and "stream_options" in exc.message


def _attempt(client: httpx.Client, request: _Request, timeout_seconds: float, usage: Usage) -> Iterator[str]:
    url = request.url
    try:
        with client.stream("POST", url, json=request.body, headers=request.headers) as response:
            if response.status_code >= 400:
                status = response.status_code
                raise LlmError(
                    f"HTTP {status} from {url}: {_snippet(response.read().decode('utf-8', 'replace'))}",
                    status in RETRYABLE_STATUSES or status >= 500,
                    retry_after_seconds=_retry_after(response),
                )
            media = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
            if media == "application/json":  # the server ignored `stream`: one answer, read as `complete` does
                yield _whole(url, response.read(), usage)
                return
            yield from _events(url, response.iter_lines(), usage)
    except httpx.TimeoutException:
        raise LlmError(f"POST {url} timed out after {timeout_seconds:g} s", True, timed_out=True) from None
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise LlmError(f"cannot send to {url}: {exc}", False) from None
    except httpx.TransportError as exc:
        raise LlmError(f"could not reach {url}: {type(exc).__name__}: {exc}", True) from None


def _whole(url: str, raw: bytes, usage: Usage) -> str:
    try:
        data = json.loads(raw)
    except ValueError:
        raise LlmError(f"answer from {url} is not JSON: {_snippet(raw.decode('utf-8', 'replace'))}", False) from None
    if not isinstance(data, dict):
        raise LlmError(f"answer from {url} is not a JSON object: {_snippet(raw.decode('utf-8', 'replace'))}", False)
    answer = _parse_openai(data)
    usage.input_tokens, usage.output_tokens = answer.input_tokens, answer.output_tokens
    return answer.text


def _events(url: str, lines: Iterator[str], usage: Usage) -> Iterator[str]:
    """The text of each `data:` chunk, until `[DONE]`. A line that is no part of an event stream, a chunk that is
    not a JSON object, an error the server reports mid-stream, or a stream that stops before it says it is done
    (neither `[DONE]` nor a finish_reason): LlmError."""
    finished = False
    for line in lines:
        line = line.strip()
        if not line or line.startswith(SSE_FIELDS):
            continue
        if not line.startswith("data:"):
            raise LlmError(f"answer from {url} is not an event stream: {_snippet(line)}", False)
        payload = line[5:].strip()
        if payload == "[DONE]":
            return
        try:
            chunk: Any = json.loads(payload)
        except ValueError:
            raise LlmError(f"a chunk of the answer from {url} is not JSON: {_snippet(payload)}", False) from None
        if not isinstance(chunk, dict):
            raise LlmError(f"a chunk of the answer from {url} is not a JSON object: {_snippet(payload)}", False)
        if "error" in chunk:
            raise LlmError(f"{url} reported an error while answering: {_snippet(json.dumps(chunk['error']))}", False)
        _read_usage(chunk.get("usage"), usage)
        choices = chunk.get("choices")
        if not isinstance(choices, list):
            raise LlmError(f"a chunk of the answer from {url} has no choices: {_snippet(payload)}", False)
        for choice in choices[:1]:
            if not isinstance(choice, dict):
                raise LlmError(f"a chunk of the answer from {url} has no choice: {_snippet(payload)}", False)
            delta = choice.get("delta")
            content = delta.get("content") if isinstance(delta, dict) else None
            if isinstance(content, str) and content:
                yield content
            finished = finished or isinstance(choice.get("finish_reason"), str)
    if not finished:
        raise LlmError(f"the answer from {url} broke off before it was complete", False)


def _read_usage(said: Any, usage: Usage) -> None:
    """A chunk's `usage` (the last one's, with include_usage; some servers put it in every chunk, growing)."""
    if not isinstance(said, dict):
        return
    for name, attribute in (("prompt_tokens", "input_tokens"), ("completion_tokens", "output_tokens")):
        value = said.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            setattr(usage, attribute, value)
