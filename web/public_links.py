"""Public links to one file: the owner's routes (create, list, revoke) and what a link's holder reads.

The owner's side is the API's usual: `POST/GET /api/files/{uuid}/links`, `DELETE /api/files/{uuid}/links/{link_uuid}`
(repo/public_links.py: only the owner; a viewer or editor 403, a stranger 404). The token is in the answer to the
POST only, with the link's address `/p/{token}`.

The holder's side takes nothing but the token: `GET /api/public/{token}` (JSON), and the pages of web/ui/public.py
(`/p/{token}`, its media and its exports). No route of it names a file, a user or any id; what it shows is the one
file's title, duration, language, player and transcript (segments with speaker names and times), never comments,
the owner, other files or internal ids. Each request is first rate-limited (per client address and per link, a
fixed window in Redis, web/rate_limits.py), then the token resolved: unknown 404, expired or revoked 410.

Counting: the page, this JSON and each export count one use (`use_count`, `last_used_at`, atomically); the media's
requests do not (a player sends one per range it buffers) but are refused all the same once the link is dead.

These routes run outside the pipeline's transaction (`in_transaction=False`): a counted view writes on a GET, which
the pipeline would send READ ONLY to a read replica. The handler resolves (and counts) in one short transaction on
the primary, then reads the file in another, as its owner (an Actor of the link's file's owner, that file's uuid
only): row-level security's acting user is declared at each of those transactions (the system, then the owner).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response

from repo.audit import AuditLog, Event
from repo.errors import Conflict, Gone, NotFound
from repo.errors import Forbidden as NotAllowed
from repo.media_files import MediaFile, MediaFileRepository
from repo.public_links import MAX_DAYS, CreatedLink, LinkTarget, PublicLink, PublicLinkRepository, expiry
from repo.segments import SegmentRepository
from transcript.segments import TranscriptSegment
from web import exports, rate_limits
from web.audit_trail import audit, client_address
from web.content_disposition import download_name, header
from web.endpoint import Ctx, Endpoint, Renderer, Router
from web.errors import TooManyRequests
from web.files import from_the_start, media_response

router = Router("public-links")
# A public answer is for the holder of a secret: no search engine indexes it, no Referer carries its address (the
# token) to another site, no cache keeps it after the link is revoked.
PUBLIC_HEADERS = {"X-Robots-Tag": "noindex, nofollow", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}
EXPORT_FORMATS: tuple[str, ...] = tuple(exports.MEDIA_TYPES)
TOKEN_PARAM = {"token": {"type": "string", "maxLength": 200, "description": "the link's token, as given once"}}


def page_path(token: str) -> str:
    return f"/p/{token}"


def public_headers(response: Response) -> Response:
    response.headers.update(PUBLIC_HEADERS)
    return response


class PublicJsonRenderer(Renderer):
    """JSON, with the public headers on the answer and on every failure (a 410 too)."""

    def result(self, endpoint: Endpoint, result: Any) -> Response:
        return public_headers(super().result(endpoint, result))

    def error(self, request: Request, exc: Exception) -> Response:
        return public_headers(super().error(request, exc))


PUBLIC_JSON = PublicJsonRenderer()


class SecretJsonRenderer(Renderer):
    """JSON that carries a secret (a new link's token, shown this once): no cache, shared or the browser's, may keep
    the answer (Cache-Control: no-store); failures carry nothing secret and are written as usual."""

    def result(self, endpoint: Endpoint, result: Any) -> Response:
        response = super().result(endpoint, result)
        response.headers["Cache-Control"] = "no-store"
        return response


SECRET_JSON = SecretJsonRenderer()


# --- the owner's routes ---------------------------------------------------------------------------------------------


class LinkCreateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    expires_in_days: int | None = Field(
        default=None, ge=1, le=MAX_DAYS, description=f"the link stops working after this many days (1 to {MAX_DAYS})"
    )
    expires_at: AwareDatetime | None = Field(
        default=None,
        description=f"or at this moment (with a time zone; in the future, at most {MAX_DAYS} days ahead); "
        "neither: until revoked",
    )


class LinkOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    uuid: UUID
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    use_count: int = Field(description="views of the page or its JSON, and exports; the media's requests do not count")
    last_used_at: datetime | None
    status: Literal["active", "expired", "revoked"]


class CreatedLinkOut(LinkOut):
    token: str = Field(description="shown this once: only its SHA-256 is stored")
    url: str = Field(description="the link's page, to hand out")


def link_status(link: PublicLink, now: datetime | None = None) -> Literal["active", "expired", "revoked"]:
    now = now or datetime.now(UTC)
    if link.revoked_at is not None:
        return "revoked"
    return "expired" if link.expires_at is not None and link.expires_at <= now else "active"


def link_out(link: PublicLink) -> LinkOut:
    return LinkOut(status=link_status(link), **_fields(link))


def _fields(link: PublicLink) -> dict[str, Any]:
    return {f.name: getattr(link, f.name) for f in fields(link)}


def link_url(request: Request, token: str) -> str:
    return str(request.base_url).rstrip("/") + page_path(token)


def created_out(request: Request, created: CreatedLink) -> CreatedLinkOut:
    link = created.link
    return CreatedLinkOut(
        status=link_status(link), token=created.token, url=link_url(request, created.token), **_fields(link)
    )


# The new link's token opens the public side: said in the document, so a client (and Schemathesis) can follow it.
CREATE_OPENAPI = {
    "responses": {
        "201": {
            "description": "the new link, with its token (shown this once)",
            "headers": {
                "Cache-Control": {
                    "description": "no-store: the answer carries the token, which no cache may keep",
                    "schema": {"type": "string", "enum": ["no-store"]},
                }
            },
            "content": {
                "application/json": {
                    "schema": CreatedLinkOut.model_json_schema(
                        ref_template="#/components/schemas/{model}", mode="serialization"
                    )
                }
            },
            "links": {
                "public_file_by_token": {
                    "operationId": "public-links_public_file",
                    "parameters": {"path.token": "$response.body#/token"},
                    "description": "what the link shows",
                }
            },
        }
    }
}


@router.post(
    "/api/files/{uuid}/links",
    body=LinkCreateIn,
    response=CreatedLinkOut,
    status=201,
    raises=(NotAllowed, Conflict),
    openapi=CREATE_OPENAPI,
    renderer=SECRET_JSON,
)
def create_link(ctx: Ctx, body: LinkCreateIn) -> CreatedLinkOut:
    """Make a public link to your file (read-only: player, transcript, exports); the token is shown this once."""
    expires_at = expiry(days=body.expires_in_days, at=body.expires_at)
    return created_out(ctx.request, create(ctx, ctx.uuid("uuid"), expires_at))


def create(ctx: Ctx, file_uuid: UUID, expires_at: datetime | None) -> CreatedLink:
    """A new link (the API's and the file page's), recorded as `public_link.create` (never with its token)."""
    created = PublicLinkRepository(ctx.conn).create(ctx.actor, file_uuid, expires_at)
    expires = None if expires_at is None else expires_at.isoformat()
    audit(
        ctx,
        "public_link.create",
        object_type="public_link",
        object_id=created.link.uuid,
        details={"file": str(file_uuid), "expires_at": expires},
    )
    return created


def revoke(ctx: Ctx, file_uuid: UUID, link_uuid: UUID) -> None:
    """Revoke a link (the API's and the file page's), recorded as `public_link.revoke`."""
    PublicLinkRepository(ctx.conn).revoke(ctx.actor, file_uuid, link_uuid)
    audit(ctx, "public_link.revoke", object_type="public_link", object_id=link_uuid, details={"file": str(file_uuid)})


@router.get("/api/files/{uuid}/links", response=list[LinkOut], raises=(NotAllowed,))
def list_links(ctx: Ctx) -> list[LinkOut]:
    """Your file's public links, newest first, with their uses (never their tokens)."""
    return [link_out(link) for link in PublicLinkRepository(ctx.conn).list_for_file(ctx.actor, ctx.uuid("uuid"))]


@router.delete("/api/files/{uuid}/links/{link_uuid}", status=204, raises=(NotAllowed, Conflict))
def revoke_link(ctx: Ctx) -> None:
    """Revoke a public link: it answers 410 from now on. Revoked already: 409."""
    revoke(ctx, ctx.uuid("uuid"), ctx.uuid("link_uuid"))


# --- the holder's side ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shared:
    """What a link shows: its file and transcript, read as the file's owner."""

    token: str
    target: LinkTarget
    file: MediaFile
    segments: list[TranscriptSegment]

    @property
    def title(self) -> str:
        return self.file.title or self.file.filename

    @property
    def media_kind(self) -> Literal["audio", "video"]:
        video = self.file.content_type.startswith("video/") or self.file.resolution_width is not None
        return "video" if video else "audio"


def token_of(request: Request) -> str:
    return str(request.path_params.get("token", ""))


# The two kinds of transaction the public side runs; with row-level security (the `rls` branch's Database.acting)
# these are the only two places to declare who acts: the token's lookup as the system (nobody is known yet; the
# query is addressed by the token's hash alone), the file's reads as the file's owner (the link's one file only).
def open_link(ctx: Ctx, *, count: bool, use: str | None = None) -> LinkTarget:
    """Rate-limit the request (client address, link), then resolve the token (404 unknown, 410 dead), counting a
    use when `count`: in a transaction of its own on the primary, committed before anything is read. A `use`
    (page, json, export, media) is put on the audit trail as `public_link.use` in that same transaction: by nobody
    (the holder is anonymous), with the link's uuid, its file and the client's address."""
    token, settings = token_of(ctx.request), ctx.services.settings
    address = ctx.request.client.host if ctx.request.client else "unknown"
    rate_limits.check(
        ctx.services.redis,
        [
            (f"public:address:{rate_limits.key_part(address)}", settings.opentr_public_link_rate_per_address),
            (f"public:link:{rate_limits.key_part(token)}", settings.opentr_public_link_rate_per_link),
        ],
        "this link",
    )
    # Resolving runs before anyone is known: the system looks the token's hash up (row-level security would show
    # nobody's link to nobody).
    db = ctx.services.db
    reading = ctx.request.method == "GET"
    with db.acting_as_system(), db.transaction() as conn:
        target = PublicLinkRepository(conn).resolve(token, count=count and reading)
        if use is not None and reading:
            details: dict[str, Any] = {"use": use, "file": str(target.file_uuid)}
            agent = ctx.request.headers.get("user-agent")
            if agent:
                details["user_agent"] = agent
            AuditLog(conn).record(
                Event(
                    action="public_link.use",
                    object_type="public_link",
                    object_id=str(target.link_uuid),
                    address=client_address(ctx.request),
                    details=details,
                )
            )
        return target


def read_shared(ctx: Ctx, *, count: bool, use: str | None = None) -> Shared:
    target = open_link(ctx, count=count, use=use)
    # From here the link's holder reads as the file's owner (row-level security), this one file by its uuid.
    db = ctx.services.db
    with db.acting(target.owner), db.transaction() as conn:
        file = MediaFileRepository(conn).get(target.owner, target.file_uuid)
        segments = SegmentRepository(conn).transcript(target.owner, target.file_uuid)
    return Shared(token_of(ctx.request), target, file, segments)


def media(ctx: Ctx) -> Response:
    """The file's media for the link's player, with HTTP Range; not counted as a use. On the audit trail once per
    playback or download (a request from the media's first byte), not once per range the player buffers."""
    target = open_link(ctx, count=False, use="media" if from_the_start(ctx.request) else None)
    db = ctx.services.db
    with db.acting(target.owner), db.transaction() as conn:
        stored = MediaFileRepository(conn).storage_path_for(target.owner, target.file_uuid)
    return public_headers(media_response(ctx, stored))


def export(ctx: Ctx, fmt: str) -> Response:
    """The transcript as a download in `fmt` (speakers and times, never comments); counted as a use."""
    if fmt not in exports.MEDIA_TYPES:
        raise NotFound(f"no export as {fmt!r}: one of {', '.join(EXPORT_FORMATS)}")
    target = open_link(ctx, count=True, use=f"export.{fmt}")
    options = exports.ExportOptions(format=fmt, comments=False)  # type: ignore[arg-type]
    db = ctx.services.db
    with db.acting(target.owner), db.transaction() as conn:
        transcript = exports.read(conn, target.owner, target.file_uuid, options)
    name = download_name(transcript.file.title, transcript.file.filename, fmt)
    return public_headers(
        Response(
            exports.render(transcript, options),
            media_type=exports.MEDIA_TYPES[fmt],
            headers={"Content-Disposition": header("attachment", name, "transcript")},
        )
    )


class PublicSegmentOut(BaseModel):
    start_time: float
    end_time: float
    speaker: str | None
    text: str


class PublicFileOut(BaseModel):
    """A public link's file: no uuid, owner or comments."""

    title: str = Field(description="the file's title, or its name")
    duration: float | None
    language: str | None
    media_type: Literal["audio", "video"]
    media_url: str = Field(description="the recording, with HTTP Range; not counted as a use")
    exports: dict[str, str] = Field(description="format → the transcript's download address (each counted)")
    expires_at: datetime | None
    segments: list[PublicSegmentOut]


def public_out(shared: Shared) -> PublicFileOut:
    base = page_path(shared.token)
    return PublicFileOut(
        title=shared.title,
        duration=shared.file.duration,
        language=shared.file.language,
        media_type=shared.media_kind,
        media_url=f"{base}/media",
        exports={fmt: f"{base}/export/{fmt}" for fmt in EXPORT_FORMATS},
        expires_at=shared.target.expires_at,
        segments=[
            PublicSegmentOut(start_time=s.start_time, end_time=s.end_time, speaker=s.speaker_name, text=s.text)
            for s in shared.segments
        ],
    )


@router.get(
    "/api/public/{token}",
    response=PublicFileOut,
    auth=False,
    in_transaction=False,
    renderer=PUBLIC_JSON,
    params=TOKEN_PARAM,
    raises=(Gone, TooManyRequests),
)
def public_file(ctx: Ctx) -> PublicFileOut:
    """What a public link shows, as JSON: title, duration, segments (no authentication: the token is the key)."""
    return public_out(read_shared(ctx, count=True, use="json"))
