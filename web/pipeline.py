"""The one request pipeline: every JSON route and every HTML page is run here, from its Endpoint declaration.

For each request: read the body (a JSON body, an HTML form, or a streamed upload through the endpoint's own
parser), then in a worker thread, in one transaction run by `Database.run()`:

1. who is calling: a bearer token, else the browser session's cookie (web/sessions.py); 401 where a caller is
   required, 403 for administrators' endpoints; then CSRF: a form's `csrf` field on every unsafe method (before
   signing in too), the `X-CSRF-Token` header on a cookie-authenticated JSON write. The token lookup runs as the
   system (users and auth_tokens have no row-level security: nobody acts yet); then the same transaction switches
   to the caller (repo.database.act: the role row-level security applies to, acting for the user, or for nobody
   when anonymous), so everything the handler reads is limited by PostgreSQL too, whatever its query says;
2. the handler's `query`/`body` (422 naming the field), the handler, its result written by the endpoint's renderer
   (JSON checked against the response model before commit; a page's HTML).

The transaction commits when the handler returns and rolls back when it raises or answers an error. A deadlock or
serialization failure re-runs it whole, up to TRANSACTION_ATTEMPTS times, then answers 409 with Retry-After.
With read replicas a GET runs READ ONLY on a replica that has replayed the caller's last write, and any other
request records the position of its write for the caller's next reads (web/consistency.py, keyed by the bearer
token or the session's token alike). Work registered with `ctx.after_commit` runs once the commit succeeded. Any
failure, raised anywhere in this, is mapped once (web/errors.py's `problem_of`, subclass-aware) and written by
the endpoint's renderer: JSON for the API, a sentence with a way on for a page.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import anyio
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from repo.database import Connection, act
from repo.replicas import PRIMARY_ONLY
from repo.rows import Actor
from repo.users import User, UserRepository
from web import consistency, sessions
from web.endpoint import (
    FORM_LIMIT,
    JSON_BODY_LIMIT,
    VIEW_ALL,
    VIEW_PARAM,
    Ctx,
    Endpoint,
    Renderer,
    bearer_token,
    form_fields,
    parse,
    read_body,
    request_token,
)
from web.errors import Forbidden, Unauthorized
from web.services import Services

log = logging.getLogger("opentr.web")
EVERY_METHOD = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"]
TRANSACTION_ATTEMPTS = 4  # a deadlock or serialization failure re-runs the request's transaction this many times


class _Rollback(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


class _OnPrimary(Exception):
    """A replica did not know the caller's token (issued moments ago): run the request on the primary."""


def _authenticate(
    endpoint: Endpoint, request: Request, conn: Connection, form: dict[str, str], on_replica: bool = False
) -> User | None:
    token = bearer_token(request)
    session = None if token else sessions.session_token(request)
    credential = token or session
    user = UserRepository(conn).user_for_token(credential) if credential else None
    if user is not None and user.touch_due:
        request.state.touch_token = credential  # recorded after this transaction: see _touch_token
    if user is None and on_replica and credential:
        raise _OnPrimary()  # a token issued moments ago may not have reached the replica yet
    request.state.user = user  # for the renderer of a failure (a page's header shows who is signed in)
    if endpoint.auth and user is None:
        raise Unauthorized("missing, expired or revoked bearer token" if token else "not authenticated")
    if endpoint.admin and (user is None or user.role != "admin"):
        raise Forbidden("administrators only")
    if request.method not in sessions.SAFE_METHODS:
        if endpoint.form:  # a form: also before signing in (login CSRF), tied to the pre-session cookie then
            sessions.require_csrf(request, form.get(sessions.CSRF_FIELD))
        elif session is not None and user is not None:  # a browser session: see web/sessions.py
            sessions.require_csrf(request, request.headers.get(sessions.CSRF_HEADER))
    return user


def _acting(request: Request, user: User | None) -> Actor | None:
    """Whom the request's transactions act for (row-level security): the caller, in the all-files view when an
    admin asks for it (`?view=all`, as Ctx.actor decides for the fragments), or nobody."""
    if user is None:
        return None
    actor = user.actor
    if actor.is_admin and request.query_params.get(VIEW_PARAM) == VIEW_ALL:
        return actor.seeing_all()
    return actor


def _touch_token(request: Request, services: Services) -> None:
    """Record the token's use once the request's transaction is over, in a statement of its own: an UPDATE inside
    the request would hold the token's row lock until commit, and every request sharing the token would queue."""
    token = getattr(request.state, "touch_token", None)
    if token is None:
        return
    request.state.touch_token = None
    try:
        with services.db.acting_as_system(), services.db.transaction() as conn:
            UserRepository(conn).touch_token(token)
    except Exception:  # bookkeeping only: the request already has its answer
        log.warning("could not record the use of a token", exc_info=True)


def _authenticate_only(endpoint: Endpoint, request: Request, services: Services) -> None:
    with services.db.acting_as_system(), services.db.transaction() as conn:
        _authenticate(endpoint, request, conn, {})


class _Call:
    """One request to one endpoint, with its body already read."""

    def __init__(
        self, endpoint: Endpoint, request: Request, services: Services, raw: bytes | None, parsed: dict[str, Any]
    ) -> None:
        self.endpoint, self.request, self.services = endpoint, request, services
        self.raw, self.parsed = raw, parsed
        self.form = form_fields(raw) if endpoint.form else {}

    def run(self) -> tuple[Response, Ctx]:
        """Choose the server, run, and remember a write's position for the caller's next reads."""
        endpoint, services = self.endpoint, self.services
        token = request_token(self.request)
        if services.db.replicas is None or not endpoint.in_transaction or endpoint.method != "GET":
            result = self._run_on(read_only=False, min_lsn=None)
        else:
            try:
                return self._run_on(read_only=True, min_lsn=consistency.min_lsn(services.redis, token))
            except _OnPrimary:
                return self._run_on(read_only=True, min_lsn=PRIMARY_ONLY)
        written = services.db.last_write_lsn()
        if token and written:
            consistency.remember_write(services.redis, token, written, services.settings.db_replica_max_lag)
        return result

    def _handle(self, conn: Connection | None, user: User | None) -> tuple[Any, Ctx]:
        """Validate (after authenticating, so 401/403 come before 422), then call the handler."""
        endpoint = self.endpoint
        ctx = endpoint.renderer.context(self.request, self.services, conn, user, self.form)
        arguments = parse(endpoint, self.request, self.raw, self.form)
        return endpoint.handler(ctx, **self.parsed, **arguments), ctx

    def _run_on(self, *, read_only: bool, min_lsn: str | None) -> tuple[Response, Ctx]:
        endpoint, request, db = self.endpoint, self.request, self.services.db
        if not endpoint.in_transaction:
            with db.acting_as_system(), db.transaction() as conn:
                user = _authenticate(endpoint, request, conn, self.form)
            with db.acting(_acting(request, user)):  # the handler's own transactions
                result, ctx = self._handle(None, user)
            return endpoint.renderer.result(endpoint, result), ctx

        def attempt(conn: Connection) -> tuple[Response, Ctx]:
            user = _authenticate(endpoint, request, conn, self.form, db.on_replica())
            actor = _acting(request, user)
            act(conn, actor)
            with db.acting(actor):
                result, ctx = self._handle(conn, user)
            if isinstance(result, Response) and result.status_code >= 400:
                raise _Rollback(result)
            return endpoint.renderer.result(endpoint, result), ctx  # inside: a misfit answer rolls back

        # An upload's body is consumed by its first attempt: it cannot be re-run, only answered 409.
        attempts = 1 if endpoint.body_parser is not None else TRANSACTION_ATTEMPTS
        with db.acting_as_system():  # until authentication knows the caller (then `act` in `attempt`)
            return db.run(attempt, attempts=attempts, read_only=read_only, min_lsn=min_lsn)


async def _read(endpoint: Endpoint, request: Request, services: Services) -> tuple[bytes | None, dict[str, Any]]:
    """The body as the endpoint takes it: raw bytes (JSON or a form), or what its own parser made of a stream."""
    if endpoint.body_parser is not None:
        if endpoint.auth:  # refuse a stranger before reading (possibly gigabytes of) body
            await anyio.to_thread.run_sync(partial(_authenticate_only, endpoint, request, services))
        return None, {"body": await endpoint.body_parser(request)}
    if endpoint.body is not None:
        return await read_body(request, JSON_BODY_LIMIT), {}
    if endpoint.form and request.method not in sessions.SAFE_METHODS:
        return await read_body(request, FORM_LIMIT), {}
    return None, {}


def asgi_endpoint(endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
    async def handle(request: Request) -> Response:
        services: Services = request.app.state.services
        try:
            raw, parsed = await _read(endpoint, request, services)
            call = _Call(endpoint, request, services, raw, parsed)
            response, ctx = await anyio.to_thread.run_sync(call.run)
            for action in ctx.post_commit:
                await anyio.to_thread.run_sync(action)
        except _Rollback as rollback:
            response = rollback.response
        except Exception as exc:
            response = endpoint.renderer.error(request, exc)
        finally:
            if getattr(request.state, "touch_token", None) is not None:
                await anyio.to_thread.run_sync(partial(_touch_token, request, services))
        return response

    return handle


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
        renderer = next(iter(methods.values())).renderer  # a page's path answers a wrong method with a page

        async def dispatch(
            request: Request,
            handlers: dict[str, Any] = handlers,
            allowed: list[str] = allowed,
            renderer: Renderer = renderer,
        ) -> Response:
            handler = handlers.get(request.method) or (handlers.get("GET") if request.method == "HEAD" else None)
            if handler is None:
                refusal = HTTPException(405, f"method {request.method} not allowed", {"Allow": ", ".join(allowed)})
                return renderer.error(request, refusal)
            response: Response = await handler(request)
            return response

        # Every method reaches dispatch: it answers those the path lacks 405 with the exact Allow. Literal paths
        # come first, so a parametrised path never takes a method a literal one lacks.
        result.append(Route(path, dispatch, methods=EVERY_METHOD))
    return result
