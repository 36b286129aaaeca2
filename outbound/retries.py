"""Shared by the clients that call other people's HTTP servers (LLM providers, transcription servers).

What makes those calls safe to retry and to report: how long to wait before the next attempt (exponential, at least
what the server asked for in Retry-After, never more than a cap), a short one-line excerpt of an error body, and
scrubbing a secret out of any message, because servers and URLs can echo an api key back.
"""

from __future__ import annotations

from typing import Final

import httpx

MAX_BACKOFF_SECONDS: Final = 30.0
ERROR_BODY_CHARS: Final = 200
REDACTED: Final = "[redacted]"


def backoff_delay(attempt: int, base_seconds: float, retry_after_seconds: float | None) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based)."""
    return min(MAX_BACKOFF_SECONDS, max(base_seconds * 2.0 ** (attempt - 1), retry_after_seconds or 0))


def snippet(text: str) -> str:
    flat = " ".join(text.split())
    if not flat:
        return "(empty body)"
    return flat[:ERROR_BODY_CHARS] + ("…" if len(flat) > ERROR_BODY_CHARS else "")


def retry_after(response: httpx.Response) -> float | None:
    """The Retry-After header in seconds (the delta-seconds form; an HTTP date is ignored)."""
    value = response.headers.get("retry-after", "")
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def redact(message: str, secret: str | None) -> str:
    key = (secret or "").strip()
    return message.replace(key, REDACTED) if key else message
