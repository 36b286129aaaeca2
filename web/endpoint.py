"""Declaring endpoints: typed body/query models, one transaction per request, JSON out through pydantic.

    router = Router("files")

    @router.get("/api/files/{uuid}", response=FileOut)
    def get_file(ctx: Ctx) -> MediaFile:
        return MediaFileRepository(ctx.conn).get(ctx.actor, ctx.uuid("uuid"))

The handler runs in a worker thread inside `Database.run()`: the transaction commits when the handler returns (a
2xx) and its answer has been checked against the response model, and rolls back when it raises or returns an error
response. A deadlock or serialization failure re-runs the whole transaction a few times, then answers 409 with
Retry-After. Work registered with `ctx.after_commit` (enqueueing a job, removing a file) runs only once the commit
succeeded.

JSON bodies are validated in pydantic's strict mode (`true` is not a number, `"12"` is not 12; a JSON integer is a
float), a missing body is a 422 naming `body`, and a NUL character anywhere in a body or a query string is a 422
naming its field (PostgreSQL text cannot hold one).
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
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from repo.database import Connection
from repo.replicas import PRIMARY_ONLY
from repo.rows import Actor
from repo.users import User, UserRepository
from web import consistency, sessions
from web.errors import ApiError, Forbidden, PayloadTooLarge, Unauthorized, Unprocessable, UnsupportedMediaType
from web.services import Services

log = logging.getLogger("opentr.web")
JSON_BODY_LIMIT = 1024 * 1024
EVERY_METHOD = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"]
TRANSACTION_ATTEMPTS = 4  # a deadlock or serialization failure re-runs the request's transaction this many times
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
            raise Unprocessable(f"{name}: not a valid uuid", name) from None

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
    # Errors the handler raises beyond those the pipeline itself answers (see web/openapi.py: the document lists
    # the statuses of both, from these same declarations).
    raises: tuple[type[Exception], ...] = ()
    params: dict[str, dict[str, Any]] = field(default_factory=dict)  # JSON schemas of path parameters (not uuids)
    documented: bool = True  # False: a fallback route the document leaves out (see web/settings.py)


class ResponseModelError(Exception):
    """A handler's result does not fit its declared response model: a server bug, answered 500 and rolled back."""


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
    try:
        payload = out.dump_json(out.validate_python(result, from_attributes=True))
    except ValidationError as exc:  # not the client's fault: never a 422
        where = f"{endpoint.method} {endpoint.path}"
        raise ResponseModelError(f"{where} answered outside its response model: {exc}") from exc
    return Response(payload, status_code=endpoint.status, media_type="application/json")


class _OnPrimary(Exception):
    """A replica did not know the bearer token (issued moments ago): run the request on the primary."""


def _authenticate(endpoint: Endpoint, request: Request, conn: Connection, on_replica: bool = False) -> User | None:
    user = None
    token = bearer_token(request)
    if token:
        user = UserRepository(conn).user_for_token(token)
        if user is not None and user.touch_due:
            request.state.touch_token = token  # recorded after this transaction: see _touch_token
    elif (session := sessions.session_token(request)) and (user := UserRepository(conn).user_for_token(session)):
        if user.touch_due:
            request.state.touch_token = session
        if request.method not in sessions.SAFE_METHODS:  # a browser session: see web/sessions.py
            sessions.require_csrf(request, request.headers.get(sessions.CSRF_HEADER))
    if user is None and on_replica and (token or sessions.session_token(request)):
        raise _OnPrimary()  # a token issued moments ago may not have reached the replica yet
    if endpoint.auth and user is None:
        raise Unauthorized("missing, expired or revoked bearer token" if token else "not authenticated")
    if endpoint.admin and (user is None or user.role != "admin"):
        raise Forbidden("administrators only")
    return user


def _touch_token(request: Request, services: Services) -> None:
    """Record the token's use once the request's transaction is over, in a statement of its own: an UPDATE inside
    the request would hold the token's row lock until commit, and every request sharing the token would queue."""
    token = getattr(request.state, "touch_token", None)
    if token is None:
        return
    request.state.touch_token = None
    try:
        with services.db.transaction() as conn:
            UserRepository(conn).touch_token(token)
    except Exception:  # bookkeeping only: the request already has its answer
        log.warning("could not record the use of a token", exc_info=True)


def _authenticate_only(endpoint: Endpoint, request: Request, services: Services) -> None:
    with services.db.transaction() as conn:
        _authenticate(endpoint, request, conn)


def is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def integral_as_int(value: Any) -> Any:
    """JSON Schema counts 162.0 as an integer: so does the API (strict mode alone would refuse it for an int)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: integral_as_int(item) for key, item in value.items()}
    if isinstance(value, list):
        return [integral_as_int(item) for item in value]
    return value


def nul_field(value: Any, path: str = "") -> str | None:
    """The dotted path of the first string (or key) holding a NUL character, "" for the top level, else None."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        where = f"{path}.{key}" if path else str(key)
        if isinstance(key, str) and "\x00" in key:
            return where
        found = nul_field(item, where)
        if found is not None:
            return found
    return None


def refuse_nul(value: Any, top: str) -> None:
    found = nul_field(value)
    if found is not None:
        raise Unprocessable(f"{found or top}: must not contain NUL characters", found or top)


def _parse(endpoint: Endpoint, request: Request, raw: bytes | None) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if endpoint.query is not None:
        params = dict(request.query_params)
        refuse_nul(params, "query")
        kwargs["query"] = endpoint.query.model_validate(params)
    if raw is not None and endpoint.body is not None:
        if not raw.strip():
            raise Unprocessable("body: required (a JSON object)", "body")
        if not is_json(request.headers.get("content-type")):
            raise UnsupportedMediaType("body: send it as application/json", "body")
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise ApiError("body: not valid JSON", "body") from None
        if not isinstance(data, dict):
            raise Unprocessable("body: expected a JSON object", "body")
        refuse_nul(data, "body")
        kwargs["body"] = endpoint.body.model_validate_json(json.dumps(integral_as_int(data)), strict=True)
    return kwargs


def _run(
    endpoint: Endpoint, request: Request, services: Services, raw: bytes | None, parsed: dict[str, Any]
) -> tuple[Response, Ctx]:
    """Authenticate, then validate (so 401/403 come before 422), then handle and render: all in one transaction,
    so an answer that breaks its own response model rolls the work back. Re-run whole on deadlocks.

    With read replicas, a GET runs read-only on a replica that has replayed the session's last write (see
    web/consistency.py); any other request records the position of its write for the session's next reads."""
    token = bearer_token(request) or sessions.session_token(request)
    if services.db.replicas is None or not endpoint.in_transaction or endpoint.method != "GET":
        result = _run_on(endpoint, request, services, raw, parsed, read_only=False, min_lsn=None)
    else:
        try:
            lsn = consistency.min_lsn(services.redis, token)
            return _run_on(endpoint, request, services, raw, parsed, read_only=True, min_lsn=lsn)
        except _OnPrimary:
            return _run_on(endpoint, request, services, raw, parsed, read_only=True, min_lsn=PRIMARY_ONLY)
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

    def attempt(conn: Connection) -> tuple[Response, Ctx]:
        user = _authenticate(endpoint, request, conn, services.db.on_replica())
        ctx = Ctx(request, services, conn, user)
        result = endpoint.handler(ctx, **parsed, **_parse(endpoint, request, raw))
        if isinstance(result, Response) and result.status_code >= 400:
            raise _Rollback(result)
        return render(endpoint, result), ctx

    # An upload's body is consumed by its first attempt: it cannot be re-run, only answered 409.
    attempts = 1 if endpoint.body_parser is not None else TRANSACTION_ATTEMPTS
    return services.db.run(attempt, attempts=attempts, read_only=read_only, min_lsn=min_lsn)


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
        finally:
            if getattr(request.state, "touch_token", None) is not None:
                await anyio.to_thread.run_sync(partial(_touch_token, request, services))
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
    """One Starlette Route per path, dispatching on method (so /files/{uuid} GET, PUT and DELETE share it).

    Literal paths come first and answer every method they lack with 405: `PUT /api/prompts/active` is not
    `PUT /api/prompts/{uuid}` with a malformed uuid."""
    by_path: dict[str, dict[str, Endpoint]] = {}
    for endpoint in endpoints:
        methods = by_path.setdefault(endpoint.path, {})
        if endpoint.method in methods:
            raise ValueError(f"{endpoint.method} {endpoint.path} is declared twice")
        methods[endpoint.method] = endpoint
    result: list[Route] = []
    for path, methods in sorted(by_path.items(), key=lambda item: "{" in item[0]):
        handlers = {m: asgi_endpoint(e) for m, e in methods.items()}
        allowed = [*methods, *(["HEAD"] if "GET" in methods else [])]

        async def dispatch(
            request: Request, handlers: dict[str, Any] = handlers, allowed: list[str] = allowed
        ) -> Response:
            handler = handlers.get(request.method) or (handlers.get("GET") if request.method == "HEAD" else None)
            if handler is None:
                raise HTTPException(405, f"method {request.method} not allowed", {"Allow": ", ".join(allowed)})
            response: Response = await handler(request)
            return response

        # Every method reaches dispatch: it answers those the path lacks 405 with the exact Allow. Literal paths
        # come first, so a parametrised path never takes a method a literal one lacks.
        result.append(Route(path, dispatch, methods=EVERY_METHOD))
    return result
