"""HTTP errors and the handlers that turn every expected failure into JSON `{"detail", "field"}`, never a 500."""

from __future__ import annotations

import logging

import psycopg
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from repo.database import RETRYABLE
from repo.errors import Conflict, Contention, DataError, Invalid, NotFound, Unavailable

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


class ServiceUnavailable(ApiError):
    status = 503

    def __init__(self, detail: str, retry_after: int = 5) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


def error_response(
    status: int, detail: object, field: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"detail": detail, "field": field}, status_code=status, headers=headers)


def field_of(error: ValidationError) -> str | None:
    first = error.errors()[0]
    loc = [str(part) for part in first.get("loc", ()) if part != "__root__"]
    return ".".join(loc) or None


CONTENTION_DETAIL = "the data changed concurrently; try again"
DATA_STATUS: dict[type[DataError], int] = {NotFound: 404, Conflict: 409, Invalid: 422, Unavailable: 503}


def status_of(kind: type[Exception]) -> int:
    """The status an exception class is answered with: what the handlers below send, for the OpenAPI document."""
    if issubclass(kind, ApiError):
        return kind.status
    if issubclass(kind, DataError):
        return next((code for error, code in DATA_STATUS.items() if issubclass(kind, error)), 400)
    raise ValueError(f"{kind.__name__} is not answered with a status of its own")


async def handle_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.detail, exc.field, exc.headers)


async def handle_data_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DataError)
    status = next((code for kind, code in DATA_STATUS.items() if isinstance(exc, kind)), 400)
    headers = {"Retry-After": "2"} if status == 503 or isinstance(exc, Contention) else None
    return error_response(status, exc.detail, exc.field, headers)


async def handle_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ValidationError)
    first = exc.errors()[0]
    return error_response(422, f"{field_of(exc) or 'body'}: {first['msg']}", field_of(exc))


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error_response(exc.status_code, exc.detail, None, dict(exc.headers or {}))


async def handle_database_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, RETRYABLE):  # outside a retried transaction (an endpoint opening its own): ask the client
        return error_response(409, CONTENTION_DETAIL, None, {"Retry-After": "1"})
    if isinstance(exc, psycopg.OperationalError):
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
        return error_response(503, "the database is unavailable; try again shortly", None, {"Retry-After": "2"})
    return await handle_unexpected(request, exc)


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal error")


HANDLERS = {
    ApiError: handle_api_error,
    DataError: handle_data_error,
    ValidationError: handle_validation_error,
    HTTPException: handle_http_exception,
    psycopg.Error: handle_database_error,
}
