"""Reading the audit trail (administrators only): `GET /api/admin/audit` (JSON, a page at a time, newest first) and
`GET /api/admin/audit.csv` (the same filters, every matching row, streamed); the page /admin/audit (web/ui/admin.py)
reads the same filters through `filter_of`.

Filters: `actor` (an e-mail, as recorded or as the account has it now, or an account's uuid), `action` (exact, or a
prefix ending in "." such as `signin.`), `outcome`, `object_type`, `object_id`, `address` (an address or a CIDR
range), `since`/`until` (ISO 8601 date-times; without a zone: UTC). A malformed one is a 422 naming it.

Reading the trail is not itself recorded (an administrator paging through it would bury what it shows); taking it
away as a CSV is: `audit.export`, with the filters used. The CSV is UTF-8 with a byte-order mark (so spreadsheet
programs read Japanese, Arabic or emoji right), and any cell beginning with = + - @ tab or carriage return is
prefixed with an apostrophe, so a spreadsheet never runs a recorded value (a typed user name) as a formula.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, Final, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import StreamingResponse

from repo import cursor
from repo.audit import AuditFilter, AuditLog, Entry
from web.audit_trail import audit
from web.content_disposition import header
from web.endpoint import Ctx, Router
from web.errors import Unprocessable
from web.fields import Cursor, QueryDateTime

router = Router("admin")
CURSOR_KIND: Final = "audit"
CSV_PAGE: Final = 1000  # rows read per transaction while the CSV streams
FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")
CSV_COLUMNS: Final = (
    "at",
    "actor_email",
    "actor_uuid",
    "actor_exists",
    "action",
    "outcome",
    "object_type",
    "object_id",
    "address",
    "details",
)
FILTERS: Final = ("actor", "action", "outcome", "object_type", "object_id", "address", "since", "until")


class AuditFilterQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    actor: str | None = Field(default=None, max_length=320, description="an e-mail (as recorded) or an account's uuid")
    action: str | None = Field(
        default=None, max_length=80, description="an action (`share.create`), or a prefix ending in `.` (`signin.`)"
    )
    outcome: Literal["success", "failure", "refused"] | None = None
    object_type: str | None = Field(default=None, max_length=40)
    object_id: str | None = Field(default=None, max_length=200)
    address: str | None = Field(default=None, max_length=64, description="an IP address or a CIDR range")
    since: QueryDateTime | None = Field(default=None, description="from this moment (ISO 8601; no zone: UTC)")
    until: QueryDateTime | None = Field(default=None, description="up to this moment, inclusive")


class AuditQuery(AuditFilterQuery):
    cursor: Cursor | None = None
    limit: int = Field(default=100, ge=1, le=500)


class ActorOut(BaseModel):
    email: str | None = Field(description="the e-mail the account had when it acted; null: nobody signed in")
    uuid: UUID | None = Field(description="the account's uuid; null when deleted or nobody")
    exists: bool = Field(description="whether the account still exists")


class AuditEntryOut(BaseModel):
    at: datetime
    actor: ActorOut
    action: str
    outcome: Literal["success", "failure", "refused"]
    object_type: str | None
    object_id: str | None
    address: str | None = Field(description="the client's address; null when unknown")
    details: dict[str, Any]


class AuditPageOut(BaseModel):
    items: list[AuditEntryOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next (older) page; null on the last page")


def _utc(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def filter_of(query: AuditFilterQuery) -> AuditFilter:
    """The repository's filter for a query; a malformed address or an empty period is a 422 naming its field."""
    actor = (query.actor or "").strip() or None
    actor_uuid: UUID | None = None
    if actor is not None and "@" not in actor:
        try:
            actor_uuid, actor = UUID(actor), None
        except ValueError:
            raise Unprocessable("actor: an e-mail address or an account's uuid", "actor") from None
    action = (query.action or "").strip() or None
    prefix = None
    if action is not None and action.endswith((".", "*")):
        prefix, action = action.rstrip("*"), None
    network = None
    if query.address and query.address.strip():
        try:
            network = str(ipaddress.ip_network(query.address.strip(), strict=False))
        except ValueError:
            raise Unprocessable("address: an IP address or a CIDR range such as 203.0.113.0/24", "address") from None
    since, until = _utc(query.since), _utc(query.until)
    if since is not None and until is not None and until < since:
        raise Unprocessable("until: must not be before since", "until")
    return AuditFilter(
        actor_uuid=actor_uuid,
        actor_email=actor,
        action=action,
        action_prefix=prefix,
        outcome=query.outcome,
        object_type=(query.object_type or "").strip() or None,
        object_id=(query.object_id or "").strip() or None,
        network=network,
        since=since,
        until=until,
    )


def page_query(params: Mapping[str, str]) -> AuditQuery:
    """A page's query string as the API's query (an empty form field is no filter)."""
    return AuditQuery.model_validate({k: v for k, v in params.items() if v.strip() and k != "view"})


def entry_out(entry: Entry) -> AuditEntryOut:
    return AuditEntryOut(
        at=entry.at,
        actor=ActorOut(email=entry.actor_email, uuid=entry.actor_uuid, exists=entry.actor_exists),
        action=entry.action,
        outcome=entry.outcome,  # type: ignore[arg-type]
        object_type=entry.object_type,
        object_id=entry.object_id,
        address=entry.address,
        details=entry.details,
    )


def read_page(ctx: Ctx, query: AuditQuery) -> tuple[list[Entry], str | None]:
    """One page of the trail and the cursor of the next (None on the last)."""
    where = filter_of(query)
    after = cursor.decode(CURSOR_KIND, query.cursor, int)
    rows = AuditLog(ctx.conn).search(where, after=after, limit=query.limit + 1)
    items = rows[: query.limit]
    more = len(rows) > query.limit
    return items, cursor.encode(CURSOR_KIND, items[-1].at, items[-1].id) if more and items else None


@router.get("/api/admin/audit", query=AuditQuery, response=AuditPageOut, admin=True)
def audit_page(ctx: Ctx, query: AuditQuery) -> AuditPageOut:
    """The audit trail, newest first, filtered; page on with `next_cursor`."""
    items, next_cursor = read_page(ctx, query)
    return AuditPageOut(items=[entry_out(e) for e in items], next_cursor=next_cursor)


def safe_cell(value: str) -> str:
    """A cell a spreadsheet shows as text: one beginning with = + - @ tab or CR gets a leading apostrophe."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def csv_row(entry: Entry) -> list[str]:
    cells = [
        entry.at.astimezone(UTC).isoformat(),
        entry.actor_email or "",
        str(entry.actor_uuid) if entry.actor_uuid else "",
        "yes" if entry.actor_exists else "no",
        entry.action,
        entry.outcome,
        entry.object_type or "",
        entry.object_id or "",
        entry.address or "",
        json.dumps(entry.details, ensure_ascii=False, sort_keys=True) if entry.details else "",
    ]
    return [safe_cell(cell) for cell in cells]


def _line(cells: list[str] | tuple[str, ...]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(cells)
    return out.getvalue().encode("utf-8")


CSV_OPENAPI = {
    "responses": {
        "200": {
            "description": "the matching rows, newest first, as CSV (UTF-8 with a byte-order mark)",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    }
}


@router.get("/api/admin/audit.csv", query=AuditFilterQuery, admin=True, in_transaction=False, openapi=CSV_OPENAPI)
def audit_csv(ctx: Ctx, query: AuditFilterQuery) -> StreamingResponse:
    """The audit trail as CSV, every row the filters match, newest first; the export itself is recorded."""
    where, actor, db = filter_of(query), ctx.actor, ctx.services.db
    used = {name: str(value) for name, value in query.model_dump().items() if value not in (None, "")}
    audit(ctx, "audit.export", object_type="audit_log", details={"filters": used, "format": "csv"})

    def rows() -> Iterator[bytes]:
        yield "\ufeff".encode() + _line(CSV_COLUMNS)
        after: cursor.Position | None = None
        while True:
            # The stream runs after the pipeline's block: it declares its actor (an administrator) itself.
            with db.acting(actor), db.transaction() as conn:
                page = AuditLog(conn).search(where, after=after, limit=CSV_PAGE)
            if not page:
                return
            yield b"".join(_line(csv_row(entry)) for entry in page)
            if len(page) < CSV_PAGE:
                return
            after = cursor.Position(page[-1].at, page[-1].id)

    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    return StreamingResponse(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": header("attachment", f"audit-{stamp}.csv")},
    )
