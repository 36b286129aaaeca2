"""Declaring endpoints: typed body/query models, one transaction per request, JSON out through pydantic.

    router = Router("files")

    @router.get("/api/files/{uuid}", response=FileOut)
    def get_file(ctx: Ctx) -> MediaFile:
        return MediaFileRepository(ctx.conn).get(ctx.actor, ctx.uuid("uuid"))

The handler runs in a worker thread inside `Database.transaction()`: the transaction commits when the handler
returns (a 2xx), and rolls back when it raises or returns an error response. Work registered with
`ctx.after_commit` (enqueueing a job, removing a file) runs only once the commit succeeded.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import cache, partial
from typing import Any
from uuid import UUID

import anyio
from pydantic import BaseModel, TypeAdapter
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from repo.database import Connection
from repo.replicas import PRIMARY_ONLY
from repo.rows import Actor
from repo.users import User, UserRepository
from web import consistency
from web.errors import ApiError, Forbidden, PayloadTooLarge, Unauthorized
from web.services import Services

log = logging.getLogger("opentr.web")
JSON_BODY_LIMIT = 1024 * 1024
Handler = Callable[..., Any]


@dataclass
class Ctx:
    request: Request
    services: Services
    connection: Connection | None
    user: User | None
    post_commit: list[Callable[[], None]] = field(default_factory=list)

    @property
    def conn(self) -> Connection:
        if self.connection is None:
            raise RuntimeError("this endpoint runs outside a transaction: use ctx.services.db.transaction()")
        return self.connection

    @property
    def actor(self) -> Actor:
        if self.user is None:
            raise Unauthorized()
        return self.user.actor

    def uuid(self, name: str) -> UUID:
        raw = self.request.path_params.get(name, "")
        try:
            return UUID(str(raw))
        except ValueError:
            raise ApiError(f"{name}: not a valid uuid", name) from None

    def after_commit(self, action: Callable[[], None]) -> None:
        self.post_commit.append(action)


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    tag: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: Any = None
    status: int = 200
    auth: bool = True
    admin: bool = False
    summary: str = ""
    body_parser: Callable[[Request], Awaitable[Any]] | None = None
    in_transaction: bool = True  # False: for slow outside calls; the handler opens short transactions itself
    openapi: dict[str, Any] | None = None  # merged into the generated operation (uploads, binary responses)


class _Rollback(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ApiError("content-length: not a number", "content-length")
        if int(declared) > limit:
            raise PayloadTooLarge(f"body larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@cache
def adapter(response: Any) -> TypeAdapter[Any]:
    return TypeAdapter(response)


def render(endpoint: Endpoint, result: Any) -> Response:
    if isinstance(result, Response):
        return result
    if result is None or endpoint.response is None:
        return Response(status_code=204 if endpoint.status in (200, 204) else endpoint.status)
    out = adapter(endpoint.response)
    payload = out.dump_json(out.validate_python(result, from_attributes=True))
    return Response(payload, status_code=endpoint.status, media_type="application/json")


class _OnPrimary(Exception):
    """A replica did not know the bearer token (issued moments ago): run the request on the primary."""


def _authenticate(
    endpoint: Endpoint, request: Request, conn: Connection, read_only: bool = False, on_replica: bool = False
) -> User | None:
    user = None
    token = bearer_token(request)
    if token:
        users = UserRepository(conn)
        user = users.user_for_token_read_only(token) if read_only else users.user_for_token(token)
        if user is None and on_replica:
            raise _OnPrimary()
    if endpoint.auth and user is None:
        raise Unauthorized("missing, expired or revoked bearer token" if token else "not authenticated")
    if endpoint.admin and (user is None or user.role != "admin"):
        raise Forbidden("administrators only")
    return user


def _authenticate_only(endpoint: Endpoint, request: Request, services: Services) -> None:
    with services.db.transaction() as conn:
        _authenticate(endpoint, request, conn)


def _parse(endpoint: Endpoint, request: Request, raw: bytes | None) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if endpoint.query is not None:
        kwargs["query"] = endpoint.query.model_validate(dict(request.query_params))
    if raw is not None and endpoint.body is not None:
        try:
            data = json.loads(raw) if raw.strip() else {}
        except (ValueError, UnicodeDecodeError):
            raise ApiError("body: not valid JSON", "body") from None
        if not isinstance(data, dict):
            raise ApiError("body: expected a JSON object", "body")
        kwargs["body"] = endpoint.body.model_validate(data)
    return kwargs


def _run(
    endpoint: Endpoint, request: Request, services: Services, raw: bytes | None, parsed: dict[str, Any]
) -> tuple[Response, Ctx]:
    """Authenticate, then validate (so 401/403 come before 422), then handle: all in one transaction. The response
    is rendered here too, after the commit and off the event loop (a long transcript is real work).

    With read replicas, a GET runs read-only on a replica that has replayed the session's last write (see
    web/consistency.py); any other request records the position of its write for the session's next reads."""
    token = bearer_token(request)
    if services.db.replicas is None or not endpoint.in_transaction:
        result = _run_on(endpoint, request, services, raw, parsed, read_only=False, min_lsn=None)
    elif endpoint.method == "GET":
        try:
            lsn = consistency.min_lsn(services.redis, token)
            return _run_on(endpoint, request, services, raw, parsed, read_only=True, min_lsn=lsn)
        except _OnPrimary:
            return _run_on(endpoint, request, services, raw, parsed, read_only=True, min_lsn=PRIMARY_ONLY)
    else:
        result = _run_on(endpoint, request, services, raw, parsed, read_only=False, min_lsn=None)
    written = services.db.last_write_lsn()
    if token and written:
        consistency.remember_write(services.redis, token, written, services.settings.db_replica_max_lag)
    return result


def _run_on(
    endpoint: Endpoint,
    request: Request,
    services: Services,
    raw: bytes | None,
    parsed: dict[str, Any],
    *,
    read_only: bool,
    min_lsn: str | None,
) -> tuple[Response, Ctx]:
    if not endpoint.in_transaction:
        with services.db.transaction() as conn:
            user = _authenticate(endpoint, request, conn)
        ctx = Ctx(request, services, None, user)
        return render(endpoint, endpoint.handler(ctx, **parsed, **_parse(endpoint, request, raw))), ctx
    with services.db.transaction(read_only=read_only, min_lsn=min_lsn) as conn:
        user = _authenticate(endpoint, request, conn, read_only, services.db.on_replica())
        ctx = Ctx(request, services, conn, user)
        result = endpoint.handler(ctx, **parsed, **_parse(endpoint, request, raw))
        if isinstance(result, Response) and result.status_code >= 400:
            raise _Rollback(result)
    return render(endpoint, result), ctx


def asgi_endpoint(endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
    async def handle(request: Request) -> Response:
        services: Services = request.app.state.services
        parsed: dict[str, Any] = {}
        raw = None
        if endpoint.body_parser is not None:
            if endpoint.auth:  # refuse a stranger before reading (possibly gigabytes of) body
                await anyio.to_thread.run_sync(partial(_authenticate_only, endpoint, request, services))
            parsed["body"] = await endpoint.body_parser(request)
        elif endpoint.body is not None:
            raw = await read_body(request, JSON_BODY_LIMIT)
        try:
            response, ctx = await anyio.to_thread.run_sync(partial(_run, endpoint, request, services, raw, parsed))
        except _Rollback as rollback:
            return rollback.response
        for action in ctx.post_commit:
            await anyio.to_thread.run_sync(action)
        return response

    return handle


class Router:
    """The endpoints of one resource module."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.endpoints: list[Endpoint] = []

    def add(self, method: str, path: str, **options: Any) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            summary = options.pop("summary", None) or (handler.__doc__ or handler.__name__).strip().splitlines()[0]
            self.endpoints.append(Endpoint(method, path, handler, self.tag, summary=summary, **options))
            return handler

        return register

    def get(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.add("GET", path, **options)

    def post(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.add("POST", path, **options)

    def put(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.add("PUT", path, **options)

    def delete(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.add("DELETE", path, **options)


def routes(endpoints: list[Endpoint]) -> list[Route]:
    """One Starlette Route per path, dispatching on method (so /files/{uuid} GET, PUT and DELETE share it)."""
    by_path: dict[str, dict[str, Endpoint]] = {}
    for endpoint in endpoints:
        methods = by_path.setdefault(endpoint.path, {})
        if endpoint.method in methods:
            raise ValueError(f"{endpoint.method} {endpoint.path} is declared twice")
        methods[endpoint.method] = endpoint
    result = []
    for path, methods in by_path.items():
        handlers = {m: asgi_endpoint(e) for m, e in methods.items()}

        async def dispatch(request: Request, handlers: dict[str, Any] = handlers) -> Response:
            handler = handlers.get(request.method) or (handlers.get("GET") if request.method == "HEAD" else None)
            if handler is None:
                raise ApiError(f"method {request.method} not allowed", None)
            response: Response = await handler(request)
            return response

        result.append(Route(path, dispatch, methods=[*methods, *(["HEAD"] if "GET" in methods else [])]))
    return result
