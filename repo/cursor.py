"""Opaque keyset cursors for list queries: base64url JSON holding the last row's sort key, never an OFFSET.

A cursor names the list it belongs to (`kind`), so a tasks cursor handed to the files list is refused like any
other malformed one: `Invalid(field="cursor")`, which the web layer answers with 400.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from repo.errors import NotFound

R = TypeVar("R")
Key = int | str
MAX_CURSOR_CHARS = 1024
MAX_PAGE_SIZE = 200


@dataclass(frozen=True, slots=True)
class Position:
    """Where the previous page ended: its last row's timestamp and tie-breaking key."""

    at: datetime
    key: Key


def encode(kind: str, at: datetime, key: Key) -> str:
    payload = json.dumps({"k": kind, "t": at.isoformat(), "i": key}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).rstrip(b"=").decode("ascii")


def decode(kind: str, cursor: str | None, key_type: type[int] | type[str]) -> Position | None:
    """The position a cursor points after; None for the first page (no cursor, or an empty one)."""
    if not cursor:
        return None
    malformed = NotFound("no page at this cursor; start again from the first page", "cursor")
    if len(cursor) > MAX_CURSOR_CHARS:
        raise malformed
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        data = json.loads(raw)
        if not isinstance(data, dict) or data.get("k") != kind or set(data) != {"k", "t", "i"}:
            raise malformed
        key, at = data["i"], datetime.fromisoformat(data["t"])
    except (binascii.Error, ValueError, TypeError):
        raise malformed from None
    if type(key) is not key_type or at.tzinfo is None:
        raise malformed
    return Position(at, key)


def clamp_limit(limit: int) -> int:
    return max(1, min(int(limit), MAX_PAGE_SIZE))


def split_page(
    rows: Sequence[R], limit: int, kind: str, position: Callable[[R], tuple[datetime, Key]]
) -> tuple[list[R], str | None]:
    """Rows fetched with LIMIT limit + 1: the page itself, and a cursor only when another page follows."""
    items = list(rows[:limit])
    if len(rows) <= limit or not items:
        return items, None
    return items, encode(kind, *position(items[-1]))


Value = str | int | float


def encode_values(kind: str, values: Sequence[Value]) -> str:
    """A cursor over any sort key: the last row's sort values, in order (for lists the user may sort)."""
    payload = json.dumps({"k": kind, "v": list(values)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).rstrip(b"=").decode("ascii")


def decode_values(kind: str, cursor: str | None, types: Sequence[type[Value]]) -> list[Value] | None:
    """The sort values a cursor made by encode_values holds, each of the given type; None for the first page."""
    if not cursor:
        return None
    malformed = NotFound("no page at this cursor; start again from the first page", "cursor")
    if len(cursor) > MAX_CURSOR_CHARS:
        raise malformed
    try:
        data = json.loads(base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True))
    except (binascii.Error, ValueError, TypeError):
        raise malformed from None
    if not isinstance(data, dict) or set(data) != {"k", "v"} or data["k"] != kind or not isinstance(data["v"], list):
        raise malformed
    values: list[Value] = data["v"]
    if len(values) != len(types):
        raise malformed
    checked: list[Value] = []
    for value, expected in zip(values, types, strict=True):
        if expected is float and type(value) is int:
            value = float(value)  # JSON writes 3.0 as 3.0, but a hand-made cursor may say 3
        if type(value) is not expected:
            raise malformed
        checked.append(value)
    return checked
