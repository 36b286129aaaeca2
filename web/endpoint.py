"""Declaring endpoints, JSON routes and HTML pages alike: typed body/query models, who may call, how the answer is
written. Every endpoint runs through the one request pipeline of web/pipeline.py.

    router = Router("files")

    @router.get("/api/files/{uuid}", response=FileOut)
    def get_file(ctx: Ctx) -> MediaFile:
        return MediaFileRepository(ctx.conn).get(ctx.actor, ctx.uuid("uuid"))

An endpoint differs from another only in what it declares here: its models, `auth`/`admin`, whether its body is an
HTML form (`form`: read into `ctx.form`, its `csrf` field checked on every POST), and its `renderer`, which writes
the handler's result and any failure: JSON by default (`{"detail", "field"}` for errors), HTML pages through
web/ui/render.py. The transaction, the read replicas, the retries, the error mapping and the after-commit work are
the pipeline's, the same for all.

JSON bodies are validated in pydantic's strict mode (`true` is not a number, `"12"` is not 12; a JSON integer is a
float), a missing body is a 422 naming `body`, and a NUL character anywhere in a body, a form or a query string is a
422 naming its field (PostgreSQL text cannot hold one).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import parse_qsl
from uuid import UUID

from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from repo.audit import AuditLog, Event
from repo.database import Connection, act
from repo.rows import Actor
from repo.users import User
from web import sessions
from web.errors import (
    ApiError,
    PayloadTooLarge,
    Unauthorized,
    Unprocessable,
    UnsupportedMediaType,
    json_problem,
    problem_of,
)
from web.services import Services

# Every use of an admin's all-files view (`?view=all`) is written here too, besides the audit trail (`audit_log`).
audit = logging.getLogger("opentr.audit")
READS = ("GET", "HEAD")
VIEW_PARAM = "view"
VIEW_ALL = "all"

JSON_BODY_LIMIT = 1024 * 1024
FORM_LIMIT = 256 * 1024
Handler = Callable[..., Any]


@dataclass
class Ctx:
    """What a handler works with: the request, the process's services, the request's transaction, the caller, and
    (for a form endpoint) the submitted form."""

    request: Request
    services: Services
    connection: Connection | None
    user: User | None
    form: dict[str, str] = field(default_factory=dict)
    post_commit: list[Callable[[], None]] = field(default_factory=list)
    audited: bool = False  # this request's all-files view is on the audit trail already

    @property
    def conn(self) -> Connection:
        if self.connection is None:
            raise RuntimeError("this endpoint runs outside a transaction: use ctx.services.db.transaction()")
        return self.connection

    @property
    def actor(self) -> Actor:
        """The caller. An admin asking for `?view=all` acts in the explicit all-files view (Actor.seeing_all):
        the one way an admin reaches other people's files, recorded on the `opentr.audit` log. Anyone else's
        `view=all` is ignored: it grants nothing."""
        if self.user is None:
            raise Unauthorized()
        actor = self.user.actor
        if actor.is_admin and self.request.query_params.get(VIEW_PARAM) == VIEW_ALL:
            return self.seeing_all()
        return actor

    def seeing_all(self) -> Actor:
        """The caller (an admin) in the all-files view, recorded once per request; a non-admin stays as they are."""
        if self.user is None:
            raise Unauthorized()
        actor = self.user.actor
        if not actor.is_admin:
            return actor
        if not self.audited:
            self.audited = True
            audit.warning("admin all-files view: %s %s %s", self.user.email, self.request.method, self.request.url.path)
            client = self.request.client
            self.record(
                Event(
                    action="admin.all_files_view",
                    actor_id=self.user.id,
                    object_type="request",
                    object_id=self.request.url.path,
                    address=client.host if client else None,
                    details={"method": self.request.method},
                )
            )
            if self.connection is not None:  # and the rest of the transaction's row-level security with it
                act(self.connection, actor.seeing_all())
        return actor.seeing_all()

    def record(self, event: Event) -> None:
        """Put `event` on the audit trail (repo/audit.py) with this request's work: in its transaction, so the row
        exists exactly when the work committed. Where that transaction cannot take a write — a GET served READ ONLY
        (with read replicas, web/pipeline.py), an endpoint without one (a stream, a public link) — the row is
        written once the handler has succeeded, in a transaction of its own on the primary."""
        read_only = self.request.method in READS and self.services.db.replicas is not None
        if self.connection is not None and not read_only:
            AuditLog(self.connection).record(event)
            return
        db = self.services.db

        def write() -> None:
            try:
                with db.apart() as conn:
                    AuditLog(conn).record(event)
            except Exception:  # the answer has been computed: a trail that cannot be written must not undo it
                audit.exception("could not write to the audit log: %s", event.action)

        self.after_commit(write)

    def uuid(self, name: str) -> UUID:
        raw = self.request.path_params.get(name, "")
        try:
            return UUID(str(raw))
        except ValueError:
            raise Unprocessable(f"{name}: not a valid uuid", name) from None

    def after_commit(self, action: Callable[[], None]) -> None:
        self.post_commit.append(action)


class Renderer:
    """How an endpoint's result and its failures become a response, and what context its handler receives. This
    one writes JSON; web/ui/render.py's pages write HTML. The failure is first mapped by web/errors.py's
    `problem_of`, the same for every renderer, so a status can never differ between the API and the pages."""

    context: type[Ctx] = Ctx

    def result(self, endpoint: Endpoint, result: Any) -> Response:
        return render(endpoint, result)

    def error(self, request: Request, exc: Exception) -> Response:
        return json_problem(problem_of(request, exc))


JSON = Renderer()


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
    form: bool = False  # the body is an HTML form (ctx.form); its `csrf` field is required on every unsafe method
    renderer: Renderer = JSON


class ResponseModelError(Exception):
    """A handler's result does not fit its declared response model: a server bug, answered 500 and rolled back."""


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def request_token(request: Request) -> str | None:
    """The credential a request came with: its bearer token, else its browser session's token."""
    return bearer_token(request) or sessions.session_token(request)


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


def form_fields(raw: bytes | None) -> dict[str, str]:
    """An HTML form's fields (urlencoded; the last value of a repeated name)."""
    return dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)) if raw else {}


def parse(endpoint: Endpoint, request: Request, raw: bytes | None, form: dict[str, str]) -> dict[str, Any]:
    """The handler's `query` and `body` arguments; a form endpoint's form and query string are checked for NUL."""
    kwargs: dict[str, Any] = {}
    if endpoint.auth and any(v != VIEW_ALL for v in request.query_params.getlist(VIEW_PARAM)):
        raise Unprocessable(f"{VIEW_PARAM}: only `{VIEW_ALL}` (an administrator's all-files view)", VIEW_PARAM)
    if endpoint.form:
        refuse_nul(form, "form")
        for name, value in request.query_params.multi_items():
            refuse_nul({name: value}, "query")
    if endpoint.query is not None:
        # `view` is the all-files switch every route understands (Ctx.actor), not one of the endpoint's own.
        params = {name: value for name, value in request.query_params.items() if name != VIEW_PARAM}
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
