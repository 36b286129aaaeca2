"""HTTP errors, and the one mapping (`problem_of`) from any exception to the status, detail and field it is answered
with: JSON `{"detail", "field"}` for the API, a sentence on a page (web/ui/render.py); never a 500 for a failure
that was expected."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import psycopg
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from repo.database import RETRYABLE
from repo.errors import Conflict, Contention, DataError, Gone, Invalid, LimitReached, NotFound, Stale, Unavailable
from repo.errors import Forbidden as NotAllowed
from storage.backend import StorageFull, StorageUnavailable
from web.fields import PATTERN_WORDS

log = logging.getLogger("opentr.web")


class ApiError(Exception):
    status = 400

    def __init__(self, detail: str, field: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail, self.field, self.headers = detail, field, headers


class Unauthorized(ApiError):
    status = 401

    def __init__(self, detail: str = "not authenticated") -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(ApiError):
    status = 403


class Unprocessable(ApiError):
    """A value the server read but cannot take (a malformed uuid, a missing body, a NUL character)."""

    status = 422


class PayloadTooLarge(ApiError):
    status = 413


class UnsupportedMediaType(ApiError):
    status = 415


class TooManyRequests(ApiError):
    status = 429


class BadGateway(ApiError):
    """A server the request depends on (the user's LLM) answered with an error or with something unreadable."""

    status = 502


class GatewayTimeout(ApiError):
    """A server the request depends on (the user's LLM) did not answer in time."""

    status = 504


class ServiceUnavailable(ApiError):
    status = 503

    def __init__(self, detail: str, retry_after: int = 5) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


class InsufficientStorage(ApiError):
    """The disk where uploads are received or stored is full (WebDAV's 507, the status for exactly this)."""

    status = 507


def error_response(
    status: int, detail: object, field: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"detail": detail, "field": field}, status_code=status, headers=headers)


def field_of(error: ValidationError) -> str | None:
    first = error.errors()[0]
    loc = [str(part) for part in first.get("loc", ()) if part != "__root__"]
    return ".".join(loc) or None


def in_words(error: ValidationError) -> str:
    """The first error's message as a person reads it: a value that misses a pattern says what the field takes
    (web/fields.py words each pattern), never the regular expression; a validator's message loses pydantic's
    "Value error, " prefix; a malformed uuid says so without the parser's internals."""
    first = error.errors()[0]
    kind, context = first["type"], first.get("ctx") or {}
    if kind == "string_pattern_mismatch":
        return PATTERN_WORDS.get(str(context.get("pattern")), "not in a form this field takes")
    if kind in ("value_error", "assertion_error") and "error" in context:
        return str(context["error"])
    if kind in ("uuid_parsing", "uuid_type", "uuid_version"):
        return "not a valid uuid"
    return str(first["msg"])


def validation_detail(error: ValidationError, default_field: str = "body") -> str:
    return f"{field_of(error) or default_field}: {in_words(error)}"


CONTENTION_DETAIL = "the data changed concurrently; try again"
DATABASE_DOWN_DETAIL = "the database is unavailable; try again shortly"
STORAGE_DOWN_DETAIL = "the media storage is unavailable; try again shortly"
STORAGE_FULL_DETAIL = "the media storage is full; nothing was stored (an administrator must free space)"
INTERNAL_DETAIL = "internal error"
DATA_STATUS: dict[type[DataError], int] = {
    NotFound: 404,
    NotAllowed: 403,
    Conflict: 409,
    Gone: 410,
    Stale: 412,
    Invalid: 422,
    LimitReached: 429,
    Unavailable: 503,
}


def status_of(kind: type[Exception]) -> int:
    """The status an exception class is answered with: what `problem_of` sends, for the OpenAPI document."""
    if issubclass(kind, ApiError):
        return kind.status
    if issubclass(kind, DataError):
        return next((code for error, code in DATA_STATUS.items() if issubclass(kind, error)), 400)
    raise ValueError(f"{kind.__name__} is not answered with a status of its own")


@dataclass(frozen=True)
class Problem:
    """What went wrong, in the terms every renderer needs: the API sends it as JSON `{"detail", "field"}`, a page
    as a sentence with a way on (web/ui/render.py). `expected` is False for a server bug (answered 500)."""

    status: int
    detail: Any
    field: str | None = None
    headers: dict[str, str] | None = None
    expected: bool = True


def problem_of(request: Request, exc: BaseException) -> Problem:
    """The one mapping from an exception to an answer, for every JSON route, every page and every other route.
    Subclass-aware: a subclass of NotFound is a 404 like NotFound itself."""
    if isinstance(exc, ApiError):
        return Problem(exc.status, exc.detail, exc.field, exc.headers)
    if isinstance(exc, DataError):
        status = status_of(type(exc))
        headers = {"Retry-After": "2"} if status == 503 or isinstance(exc, Contention) else None
        if isinstance(exc, LimitReached):
            headers = {"Retry-After": str(exc.retry_after_seconds)}
        return Problem(status, exc.detail, exc.field, headers)
    if isinstance(exc, ValidationError):
        return Problem(422, validation_detail(exc), field_of(exc))
    if isinstance(exc, HTTPException):
        return Problem(exc.status_code, exc.detail, None, dict(exc.headers or {}))
    if isinstance(exc, RETRYABLE):  # outside a retried transaction (an endpoint opening its own): ask the client
        return Problem(409, CONTENTION_DETAIL, None, {"Retry-After": "1"})
    if isinstance(exc, psycopg.OperationalError):
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
        return Problem(503, DATABASE_DOWN_DETAIL, None, {"Retry-After": "2"})
    # The store's own words (its address, the reason) go to the log, where the operator looks; the client learns
    # what happened to its request.
    if isinstance(exc, StorageUnavailable):
        log.warning("%s on %s %s", exc, request.method, request.url.path)
        return Problem(503, STORAGE_DOWN_DETAIL, None, {"Retry-After": "10"})
    if isinstance(exc, StorageFull):
        log.error("%s on %s %s", exc, request.method, request.url.path)
        return Problem(InsufficientStorage.status, STORAGE_FULL_DETAIL)
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return Problem(500, INTERNAL_DETAIL, expected=False)


def json_problem(problem: Problem) -> JSONResponse:
    return error_response(problem.status, problem.detail, problem.field, problem.headers)


async def handle_any(request: Request, exc: Exception) -> Response:
    """Starlette's handler for what is raised outside the request pipeline (routing's 405, the docs, live)."""
    return json_problem(problem_of(request, exc))


HANDLERS = {
    kind: handle_any
    for kind in (ApiError, DataError, ValidationError, HTTPException, psycopg.Error, StorageUnavailable, StorageFull)
}
