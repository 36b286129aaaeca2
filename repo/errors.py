"""Exceptions raised by the data layer; the web layer maps each one to an HTTP status."""

from __future__ import annotations


class DataError(Exception):
    """Base class of every error the repository layer raises on purpose."""

    def __init__(self, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class NotFound(DataError):
    """The row does not exist, or the acting user may not see it."""


class Forbidden(DataError):
    """The acting user may see the row but not do this to it: a viewer editing, an editor deleting or resharing.
    (A row they may not see at all is NotFound: its existence is not told.)"""


class Gone(DataError):
    """The row existed and is no longer usable: a public link that expired or was revoked (410). Unlike NotFound,
    telling it costs nothing: only the holder of the link's secret can ask."""


class Conflict(DataError):
    """A unique constraint or a state guard refused the write."""


class Contention(Conflict):
    """Concurrent transactions kept colliding (deadlock, serialization failure) after every retry: try again."""


class Stale(DataError):
    """An edit named the version it started from (If-Match) and the row has moved on: nothing was written.
    `current` is the row as stored now, `version` its version."""

    def __init__(self, detail: str, current: object, version: int) -> None:
        super().__init__(detail)
        self.current = current
        self.version = version


class Invalid(DataError):
    """The values break a constraint: a foreign key, a CHECK, a NOT NULL, a bad literal."""


class LimitReached(DataError):
    """A limit an administrator set leaves no room for this (a day's LLM tokens): answered 429, with when to try
    again in `retry_after_seconds`."""

    def __init__(self, detail: str, field: str | None, retry_after_seconds: int) -> None:
        super().__init__(detail, field)
        self.retry_after_seconds = retry_after_seconds


class Unavailable(DataError):
    """The database (or the pool) could not serve the request in time."""


class QueryLoadError(Exception):
    """A named-query file is malformed: found at load time, never at call time."""
