"""One chat request to a user's LLM (OpenAI-compatible, Anthropic or Ollama), answered with text and token usage.

Network failures, timeouts, 429 and 5xx are retried with exponential backoff; other 4xx are not. Every error is an
`LlmError` whose message says what happened and never contains the api key: the key only travels in a header, and
messages are scrubbed of it anyway because servers and base URLs can echo it back.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol, cast, get_args

import httpx

from outbound.addresses import Allowance, check_url
from outbound.retries import backoff_delay, redact
from outbound.retries import retry_after as _retry_after
from outbound.retries import snippet as _snippet

Provider = Literal["openai", "anthropic", "ollama", "vllm", "openrouter", "custom"]
PROVIDERS: Final = frozenset(get_args(Provider))
OPENAI_COMPATIBLE: Final = frozenset({"openai", "openrouter", "vllm", "custom"})
DEFAULT_BASE_URLS: Final[dict[str, str]] = {
    "openai": "https://api.openai.com/v1",
    "openrouter": "https://openrouter.ai/api/v1",
    "anthropic": "https://api.anthropic.com",
    "ollama": "http://127.0.0.1:11434",
}
ANTHROPIC_VERSION: Final = "2023-06-01"
CONNECT_TIMEOUT_SECONDS: Final = 10.0
RETRYABLE_STATUSES: Final = frozenset({408, 429})

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LlmSettings:
    provider: Provider
    model_name: str
    base_url: str | None
    api_key: str | None = dataclasses.field(repr=False)
    max_tokens: int
    temperature: float
    timeout_seconds: float = 120
    max_attempts: int = 3


class StoredConfig(Protocol):
    """What settings_of reads of a stored LLM configuration (repo/llm_configs.py's row)."""

    @property
    def provider(self) -> str: ...
    @property
    def model_name(self) -> str: ...
    @property
    def base_url(self) -> str | None: ...
    @property
    def max_tokens(self) -> int: ...
    @property
    def temperature(self) -> float: ...


def settings_of(
    config: StoredConfig, api_key: str | None, timeout_seconds: float, *, max_attempts: int = 3
) -> LlmSettings:
    """The settings of one call with a stored configuration (the summary worker, the web's questions and tests)."""
    return LlmSettings(
        provider=cast(Provider, config.provider),
        model_name=config.model_name,
        base_url=config.base_url,
        api_key=api_key,
        max_tokens=config.max_tokens,
        temperature=config.temperature,
        timeout_seconds=timeout_seconds,
        max_attempts=max_attempts,
    )


def endpoint_of(config: StoredConfig) -> str | None:
    """Where calls with `config` go: its base_url, else its provider's public address."""
    return config.base_url or DEFAULT_BASE_URLS.get(config.provider)


def check_allowed(base_url: str | None, allowance: Allowance) -> None:
    """With OPENTR_LLM_ALLOW_PRIVATE=0 an address on the server's own networks is refused (BlockedUrl,
    outbound/addresses.py): when a configuration is saved, and again at use (a name may resolve elsewhere later)."""
    if base_url and not allowance.everything:
        check_url(base_url, allowance)


@dataclass(frozen=True)
class LlmAnswer:
    text: str
    input_tokens: int | None
    output_tokens: int | None
    latency_ms: int  # of the request that answered, not counting failed attempts before it
    stop_reason: str | None = None  # e.g. "length" / "max_tokens" when the answer was cut off


class LlmError(Exception):
    """`timed_out`: the server did not answer in time (a caller waiting on it says so: a gateway timeout)."""

    def __init__(
        self, message: str, retryable: bool, *, retry_after_seconds: float | None = None, timed_out: bool = False
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.retry_after_seconds = retry_after_seconds
        self.timed_out = timed_out


Parser = Callable[[dict[str, Any]], LlmAnswer]


@dataclass(frozen=True)
class _Request:
    url: str
    headers: dict[str, str]
    body: dict[str, Any]
    parse: Parser


def complete(settings: LlmSettings, system_prompt: str, user_prompt: str, *, backoff_seconds: float = 1.0) -> LlmAnswer:
    """Send one chat request; retries transient failures up to `settings.max_attempts` times in all."""
    try:
        return _complete(settings, system_prompt, user_prompt, backoff_seconds)
    except LlmError as exc:
        raise LlmError(redact(exc.message, settings.api_key), exc.retryable, timed_out=exc.timed_out) from None


def test_connection(settings: LlmSettings) -> tuple[bool, int, str]:
    """(ok, latency_ms, message) for a tiny prompt sent once, so the user gets a quick and readable verdict."""
    probe = dataclasses.replace(settings, max_tokens=min(settings.max_tokens, 16), max_attempts=1)
    started = time.monotonic()
    try:
        answer = complete(probe, "You are a connection test.", "Reply with the single word OK.")
    except LlmError as exc:
        return False, _elapsed_ms(started), exc.message
    reply = " ".join(answer.text.split())[:40]
    said = f": {reply!r}" if reply else ""
    return True, answer.latency_ms, f"{settings.model_name} answered in {answer.latency_ms} ms{said}"


def list_models(settings: LlmSettings) -> list[str]:
    """The model names the provider offers, sorted: OpenAI-compatible `GET /models`, Ollama `GET /api/tags`,
    Anthropic `GET /v1/models`. One attempt within `settings.timeout_seconds`; LlmError says why not."""
    try:
        return _list_models(settings)
    except LlmError as exc:
        raise LlmError(redact(exc.message, settings.api_key), exc.retryable) from None


def _list_models(settings: LlmSettings) -> list[str]:
    if settings.provider not in PROVIDERS:
        raise LlmError(f"unknown LLM provider {settings.provider!r}; expected one of {sorted(PROVIDERS)}", False)
    base = _base_url(settings)
    key = settings.api_key.strip() if settings.api_key else ""
    headers = {"Accept": "application/json"}
    if settings.provider == "anthropic":
        url = f"{base}/models" if base.endswith("/v1") else f"{base}/v1/models"
        headers["anthropic-version"] = ANTHROPIC_VERSION
        if key:
            headers["x-api-key"] = key
        params = {"limit": "1000"}
    else:
        url = f"{base}/api/tags" if settings.provider == "ollama" else f"{base}/models"
        if key:
            headers["Authorization"] = f"Bearer {key}"
        params = {}
    timeout = httpx.Timeout(settings.timeout_seconds, connect=min(CONNECT_TIMEOUT_SECONDS, settings.timeout_seconds))
    try:
        with httpx.Client(timeout=timeout) as client:
            response = client.get(url, headers=headers, params=params)
    except httpx.TimeoutException:
        raise LlmError(f"GET {url} timed out after {settings.timeout_seconds:g} s", True) from None
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise LlmError(f"cannot send to {url}: {exc}", False) from None
    except httpx.TransportError as exc:
        raise LlmError(f"could not reach {url}: {type(exc).__name__}: {exc}", True) from None
    if response.status_code >= 400:
        raise LlmError(f"HTTP {response.status_code} from {url}: {_snippet(response.text)}", False)
    try:
        data = response.json()
    except ValueError:
        raise LlmError(f"answer from {url} is not JSON: {_snippet(response.text)}", False) from None
    # Ollama lists {"models": [{"name": ...}]}; the others {"data": [{"id": ...}]}.
    listing, field = ("models", "name") if settings.provider == "ollama" else ("data", "id")
    entries = data.get(listing) if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise LlmError(f"answer from {url} lists no models: {_snippet(response.text)}", False)
    names = {entry[field] for entry in entries if isinstance(entry, dict) and isinstance(entry.get(field), str)}
    return sorted(names)


def _complete(settings: LlmSettings, system_prompt: str, user_prompt: str, backoff_seconds: float) -> LlmAnswer:
    request = _build_request(settings, system_prompt, user_prompt)
    timeout = httpx.Timeout(settings.timeout_seconds, connect=min(CONNECT_TIMEOUT_SECONDS, settings.timeout_seconds))
    attempts = max(1, settings.max_attempts)
    with httpx.Client(timeout=timeout) as client:
        for attempt in range(1, attempts + 1):
            try:
                return _attempt(client, request, settings.timeout_seconds)
            except LlmError as exc:
                if not exc.retryable or attempt == attempts:
                    if attempt > 1:
                        message = f"{exc.message} (gave up after {attempt} attempts)"
                        raise LlmError(message, exc.retryable, timed_out=exc.timed_out) from None
                    raise
                delay = backoff_delay(attempt, backoff_seconds, exc.retry_after_seconds)
                log.warning(
                    "LLM request failed (%s); attempt %d of %d, retrying in %.1f s",
                    redact(exc.message, settings.api_key),
                    attempt,
                    attempts,
                    delay,
                )
                time.sleep(delay)
    raise AssertionError("unreachable: the last attempt returns or raises")


def _attempt(client: httpx.Client, request: _Request, timeout_seconds: float) -> LlmAnswer:
    started = time.monotonic()
    try:
        response = client.post(request.url, json=request.body, headers=request.headers)
    except httpx.TimeoutException:
        raise LlmError(f"POST {request.url} timed out after {timeout_seconds:g} s", True, timed_out=True) from None
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise LlmError(f"cannot send to {request.url}: {exc}", False) from None
    except httpx.TransportError as exc:
        raise LlmError(f"could not reach {request.url}: {type(exc).__name__}: {exc}", True) from None
    latency_ms = _elapsed_ms(started)
    if response.status_code >= 400:
        status = response.status_code
        raise LlmError(
            f"HTTP {status} from {request.url}: {_snippet(response.text)}",
            status in RETRYABLE_STATUSES or status >= 500,
            retry_after_seconds=_retry_after(response),
        )
    try:
        data = response.json()
    except ValueError:
        raise LlmError(f"answer from {request.url} is not JSON: {_snippet(response.text)}", False) from None
    if not isinstance(data, dict):
        raise LlmError(f"answer from {request.url} is not a JSON object: {_snippet(response.text)}", False)
    return dataclasses.replace(request.parse(data), latency_ms=latency_ms)


def _build_request(settings: LlmSettings, system_prompt: str, user_prompt: str) -> _Request:
    if settings.provider not in PROVIDERS:
        raise LlmError(f"unknown LLM provider {settings.provider!r}; expected one of {sorted(PROVIDERS)}", False)
    if not settings.model_name.strip():
        raise LlmError("model_name is empty", False)
    base = _base_url(settings)
    key = settings.api_key.strip() if settings.api_key else ""
    headers = {"Accept": "application/json"}
    if settings.provider == "anthropic":
        if key:
            headers["x-api-key"] = key
        headers["anthropic-version"] = ANTHROPIC_VERSION
        url = f"{base}/messages" if base.endswith("/v1") else f"{base}/v1/messages"
        body: dict[str, Any] = {
            "model": settings.model_name,
            "system": system_prompt,
            "messages": [{"role": "user", "content": user_prompt}],
            "max_tokens": settings.max_tokens,
            "temperature": settings.temperature,
        }
        return _Request(url, headers, body, _parse_anthropic)
    if key:
        headers["Authorization"] = f"Bearer {key}"
    messages = [{"role": "system", "content": system_prompt}, {"role": "user", "content": user_prompt}]
    if settings.provider == "ollama":
        body = {
            "model": settings.model_name,
            "messages": messages,
            "stream": False,
            "options": {"temperature": settings.temperature, "num_predict": settings.max_tokens},
        }
        return _Request(f"{base}/api/chat", headers, body, _parse_ollama)
    body = {
        "model": settings.model_name,
        "messages": messages,
        "max_tokens": settings.max_tokens,
        "temperature": settings.temperature,
    }
    return _Request(f"{base}/chat/completions", headers, body, _parse_openai)


def _base_url(settings: LlmSettings) -> str:
    given = (settings.base_url or "").strip()
    base = given or DEFAULT_BASE_URLS.get(settings.provider, "")
    if not base:
        raise LlmError(f"provider {settings.provider!r} needs a base_url (the server's address)", False)
    if not base.startswith(("http://", "https://")):
        raise LlmError(f"base_url {base!r} must start with http:// or https://", False)
    return base.rstrip("/")


def _parse_openai(data: dict[str, Any]) -> LlmAnswer:
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise LlmError(f"answer has no choices: {_snippet(_describe(data))}", False)
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise LlmError(f"answer's first choice has no message: {_snippet(_describe(choices[0]))}", False)
    usage = _dict_of(data.get("usage"))
    return LlmAnswer(
        text=_text_of(message.get("content")),
        input_tokens=_int_or_none(usage.get("prompt_tokens")),
        output_tokens=_int_or_none(usage.get("completion_tokens")),
        latency_ms=0,
        stop_reason=_str_or_none(choices[0].get("finish_reason")),
    )


def _parse_anthropic(data: dict[str, Any]) -> LlmAnswer:
    content = data.get("content")
    if not isinstance(content, list):
        raise LlmError(f"answer has no content: {_snippet(_describe(data))}", False)
    usage = _dict_of(data.get("usage"))
    return LlmAnswer(
        text=_text_of(content),
        input_tokens=_int_or_none(usage.get("input_tokens")),
        output_tokens=_int_or_none(usage.get("output_tokens")),
        latency_ms=0,
        stop_reason=_str_or_none(data.get("stop_reason")),
    )


def _parse_ollama(data: dict[str, Any]) -> LlmAnswer:
    message = data.get("message")
    if not isinstance(message, dict):
        raise LlmError(f"answer has no message: {_snippet(_describe(data))}", False)
    return LlmAnswer(
        text=_text_of(message.get("content")),
        input_tokens=_int_or_none(data.get("prompt_eval_count")),
        output_tokens=_int_or_none(data.get("eval_count")),
        latency_ms=0,
        stop_reason=_str_or_none(data.get("done_reason")),
    )


def _text_of(content: Any) -> str:
    """A plain string, or the text parts of a list of content blocks ({"type": "text", "text": ...}) joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [b["text"] for b in content if isinstance(b, dict) and isinstance(b.get("text"), str)]
        return "".join(parts)
    return ""


def _describe(value: Any) -> str:
    return repr(value) if not isinstance(value, dict) else str({k: value[k] for k in list(value)[:8]})


def _dict_of(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _elapsed_ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
