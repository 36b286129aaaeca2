"""A model's context window, measured rather than guessed: what its configuration states, else what its server
says, else the provider's documented default.

Servers say it in different places; each is asked once per (address, model) and process, for a few seconds at most:
- vLLM: `GET /v1/models` → `max_model_len` of the model's entry;
- OpenRouter: `GET /models` → `context_length`; LM Studio: `max_context_length`; llama.cpp: `meta.n_ctx_train`;
- Ollama: `POST /api/show` → `num_ctx` among the model's parameters; without one Ollama runs a model with its own
  default window (OLLAMA_DEFAULT_NUM_CTX), however long `model_info["<family>.context_length"]` says the model
  could go, and silently drops the start of a longer prompt: so the smaller of the two.
OpenAI's and Anthropic's APIs say nothing; their defaults are their current models' windows.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Final, Literal

import httpx

from llm.clients import LlmSettings

Source = Literal["configured", "server", "default"]
DEFAULT_CONTEXT_TOKENS: Final = 8192
PROVIDER_DEFAULTS: Final[dict[str, int]] = {"openai": 128_000, "anthropic": 200_000, "openrouter": 128_000}
OLLAMA_DEFAULT_NUM_CTX: Final = 4096
PROBE_TIMEOUT_SECONDS: Final = 5.0
REMEMBER_SECONDS: Final = 600.0
_ENTRY_KEYS: Final = ("max_model_len", "context_length", "max_context_length", "context_window")

log = logging.getLogger(__name__)
_known: dict[tuple[str, str], tuple[float, int | None]] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class ContextWindow:
    tokens: int
    source: Source


def context_window(settings: LlmSettings, configured: int | None) -> ContextWindow:
    if configured:
        return ContextWindow(configured, "configured")
    said = _server_says(settings)
    if said:
        return ContextWindow(said, "server")
    return ContextWindow(PROVIDER_DEFAULTS.get(settings.provider, DEFAULT_CONTEXT_TOKENS), "default")


def _server_says(settings: LlmSettings) -> int | None:
    if settings.provider in ("openai", "anthropic") or not settings.base_url:
        return None
    key = (settings.base_url.rstrip("/"), settings.model_name)
    now = time.monotonic()
    with _lock:
        known = _known.get(key)
    if known is not None and now - known[0] < REMEMBER_SECONDS:
        return known[1]
    try:
        said = _ask_ollama(settings) if settings.provider == "ollama" else _ask_models(settings)
    except (httpx.HTTPError, ValueError) as exc:
        log.info("the LLM server at %s did not say its context window (%s)", settings.base_url, type(exc).__name__)
        said = None
    with _lock:
        _known[key] = (now, said)
    return said


def forget() -> None:
    """Ask the servers again (a test changes what its server says)."""
    with _lock:
        _known.clear()


def _headers(settings: LlmSettings) -> dict[str, str]:
    key = (settings.api_key or "").strip()
    return {"Accept": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}


def _ask_models(settings: LlmSettings) -> int | None:
    base = (settings.base_url or "").rstrip("/")
    response = httpx.get(f"{base}/models", headers=_headers(settings), timeout=PROBE_TIMEOUT_SECONDS)
    response.raise_for_status()
    entries = response.json().get("data")
    if not isinstance(entries, list):
        return None
    for entry in entries:
        if isinstance(entry, dict) and entry.get("id") == settings.model_name:
            return _from_entry(entry)
    return None


def _from_entry(entry: dict[str, Any]) -> int | None:
    for name in _ENTRY_KEYS:
        if _positive(entry.get(name)):
            return int(entry[name])
    meta = entry.get("meta")
    if isinstance(meta, dict) and _positive(meta.get("n_ctx_train")):
        return int(meta["n_ctx_train"])
    return None


def _ask_ollama(settings: LlmSettings) -> int | None:
    base = (settings.base_url or "").rstrip("/")
    body = {"model": settings.model_name}
    response = httpx.post(f"{base}/api/show", json=body, headers=_headers(settings), timeout=PROBE_TIMEOUT_SECONDS)
    response.raise_for_status()
    data = response.json()
    for line in str(data.get("parameters") or "").splitlines():
        name, _, value = line.partition(" ")
        if name == "num_ctx" and value.strip().isdigit():
            return int(value.strip())  # what the model runs with, when set, rather than what it was trained for
    info = data.get("model_info")
    if isinstance(info, dict):
        for name, value in info.items():
            if name.endswith(".context_length") and _positive(value):
                return min(int(value), OLLAMA_DEFAULT_NUM_CTX)
    return OLLAMA_DEFAULT_NUM_CTX


def _positive(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
