"""A person's own data: "download everything of mine" (an archive built by a job, downloadable by its owner for a
day) and "delete my account" (every row and stored object of theirs; the audit trail keeps its rows).

    POST   /api/users/me/export                   202: the export's uuid and status; the job builds the zip
    GET    /api/users/me/exports                  the person's exports, newest first
    GET    /api/users/me/exports/{uuid}/download  the zip, to its owner only (anyone else: 404), until its link
                                                  expires (then 410 naming when)
    DELETE /api/users/me                          confirmed by the current password (an account without one: the
                                                  e-mail address typed again); the last active administrator: 409

Guessing the password through the deletion is as slow as at sign-in (the same lockout, web/auth.py). Every request,
download, deletion and refused deletion is on the audit trail (`account.export`, `account.delete`).
"""

from __future__ import annotations

import logging
import shutil
from datetime import UTC, datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import FileResponse, Response, StreamingResponse

from jobs.data_exports import queue_export
from repo.accounts import AccountRepository, LastAdministrator
from repo.data_exports import DataExport, DataExportRepository
from repo.errors import Conflict, Gone
from storage import layout
from storage.backend import LocalStorage, Storage
from web.audit_trail import audit, record_apart
from web.auth import check_not_locked, record_failure
from web.content_disposition import header
from web.endpoint import Ctx, Router
from web.errors import Forbidden, TooManyRequests

router = Router("my data")
log = logging.getLogger("opentr.accounts")
Status = Literal["pending", "processing", "ready", "failed", "expired"]


class ExportOut(BaseModel):
    uuid: UUID
    status: Status
    progress: float
    size: int | None = Field(description="the archive's bytes, once ready")
    files: int | None = Field(description="how many of your files it holds, once ready")
    error: str | None
    created_at: datetime
    ready_at: datetime | None
    expires_at: datetime | None = Field(description="until when the download link works (a day after it is ready)")
    download_url: str | None = Field(description="while the link works")


class DeleteAccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: str | None = Field(default=None, max_length=256, description="your current password")
    email: str | None = Field(
        default=None,
        max_length=320,
        description="your e-mail address typed again: the confirmation of an account that signs in through an "
        "identity provider or a directory and has no password here",
    )


def export_out(export: DataExport, now: datetime | None = None) -> ExportOut:
    live = export.status == "ready" and not _expired(export, now)
    return ExportOut(
        uuid=export.uuid,
        status="expired" if export.status == "ready" and not live else export.status,  # type: ignore[arg-type]
        progress=export.progress,
        size=export.size,
        files=export.files,
        error=export.error,
        created_at=export.created_at,
        ready_at=export.ready_at,
        expires_at=export.expires_at,
        download_url=f"/api/users/me/exports/{export.uuid}/download" if live else None,
    )


def _expired(export: DataExport, now: datetime | None = None) -> bool:
    if export.status == "expired":
        return True
    return export.expires_at is not None and export.expires_at <= (now or datetime.now(UTC))


def request_export(ctx: Ctx) -> DataExport:
    """The request of the JSON route and the settings page: written with its task, enqueued after the commit."""
    redis = ctx.services.require_redis()
    export, queued = queue_export(ctx.conn, ctx.actor)
    audit(ctx, "account.export", object_type="data_export", object_id=export.uuid, details={"step": "requested"})

    def enqueue() -> None:
        queued.enqueue(redis)  # False when Redis refused: the dispatcher enqueues the pending task later

    ctx.after_commit(enqueue)
    return export


@router.post("/api/users/me/export", response=ExportOut, status=202, raises=(Conflict,))
def post_export(ctx: Ctx) -> ExportOut:
    """Ask for an archive of everything of yours (202); a notification says when it is ready. 409 while another
    of yours is still being built."""
    return export_out(request_export(ctx))


@router.get("/api/users/me/exports", response=list[ExportOut])
def list_exports(ctx: Ctx) -> list[ExportOut]:
    """Your exports, newest first (the last 50)."""
    return [export_out(e) for e in DataExportRepository(ctx.conn).list(ctx.actor)]


ZIP_OPENAPI = {
    "responses": {
        "200": {"description": "the archive", "content": {"application/zip": {"schema": {"type": "string"}}}},
    }
}


def ready_export(ctx: Ctx, export_uuid: UUID) -> DataExport:
    """The caller's export whose link still works: 404 for anyone else's, 410 once expired, 409 not ready yet."""
    export = DataExportRepository(ctx.conn).get(ctx.actor, export_uuid)
    if _expired(export):
        when = export.expires_at.isoformat() if export.expires_at else "an earlier time"
        raise Gone(f"this download link expired at {when}; request a new export", "uuid")
    if export.status != "ready" or export.storage_key is None:
        raise Conflict(f"the export is {export.status}, not ready to download", "uuid")
    return export


@router.get("/api/users/me/exports/{uuid}/download", openapi=ZIP_OPENAPI, raises=(Gone, Conflict))
def download_export(ctx: Ctx) -> Response:
    """Download one of your exports: a zip, for a day after it is ready."""
    return archive_response(ctx, ready_export(ctx, ctx.uuid("uuid")))


def archive_response(ctx: Ctx, export: DataExport) -> Response:
    """The stored archive, streamed; the download is audited apart (a GET may run read-only on a replica)."""
    assert export.storage_key is not None and ctx.user is not None
    storage, key = ctx.services.storage, layout.object_key(export.storage_key)
    name = f"my-data-{export.created_at:%Y-%m-%d}.zip"
    disposition = {"Content-Disposition": header("attachment", name, "my-data")}
    try:
        size = storage.size(key)
    except FileNotFoundError:
        raise Gone("the archive is no longer stored; request a new export", "uuid") from None
    record_apart(
        ctx.services,
        ctx.request,
        "account.export",
        outcome="success",
        actor_id=ctx.user.id,
        object_type="data_export",
        object_id=export.uuid,
        details={"step": "downloaded"},
    )
    if isinstance(storage, LocalStorage):
        return FileResponse(storage.path(key), media_type="application/zip", headers=disposition)
    chunks = storage.read_range(key, 0, size - 1) if size else iter(())
    return StreamingResponse(chunks, media_type="application/zip", headers={**disposition, "Content-Length": str(size)})


# --- delete my account -----------------------------------------------------------------------------------------------


@router.delete(
    "/api/users/me",
    body=DeleteAccountIn,
    status=204,
    raises=(Forbidden, TooManyRequests, Conflict),
)
def delete_me(ctx: Ctx, body: DeleteAccountIn) -> None:
    """Delete your account and everything of yours, for good (confirmed by your password; without one, your
    e-mail address). The last active administrator cannot (409)."""
    delete_account(ctx, body.password, body.email)


def delete_account(ctx: Ctx, password: str | None, email: str | None) -> None:
    """The deletion of the JSON route and the settings page: the rows in the request's transaction, the stored
    objects after its commit."""
    user = ctx.user
    assert user is not None
    redis = ctx.services.redis
    accounts = AccountRepository(ctx.conn)
    account = accounts.lock(user.id)
    field = "password" if account.has_password else "email"
    given = password if account.has_password else email
    if not given:
        what = "your current password" if account.has_password else "your e-mail address (this account has no password)"
        # a rule between fields (both are optional in the body), as for a password change: 409, not a bad value
        raise Conflict(f"{field}: give {what} to delete your account", field)
    if account.has_password:
        check_not_locked(redis, user.email)
    if not account.confirmed_by(password, email):
        if account.has_password:
            record_failure(redis, user.email)
        _refused(ctx, f"wrong {field}")
        raise Forbidden(
            f"{field}: not your {'current password' if account.has_password else 'e-mail address'}; "
            "nothing was deleted",
            field,
        )
    audit(ctx, "account.delete", object_type="user", object_id=user.uuid, details={"email": user.email})
    try:
        keys = accounts.delete(account)
    except LastAdministrator:
        _refused(ctx, "last active administrator")
        raise
    storage = ctx.services.storage
    stored = list(dict.fromkeys(k for key in keys for k in (key, *layout.companions(key))))  # sidecars, thumbnails
    ctx.after_commit(lambda: remove_stored(storage, stored, user.id))


def _refused(ctx: Ctx, reason: str) -> None:
    assert ctx.user is not None
    record_apart(
        ctx.services,
        ctx.request,
        "account.delete",
        outcome="refused",
        actor_id=ctx.user.id,
        object_type="user",
        object_id=ctx.user.uuid,
        details={"reason": reason},
    )


def remove_stored(storage: Storage, keys: list[str], owner_id: int) -> None:
    """After the commit: each stored object of the deleted account, then (local storage) its directory. Never
    raises: the rows are gone for good, and an object left behind is stray, which `opentr cleanup` removes."""
    for key in keys:
        try:
            storage.delete(layout.object_key(key))
        except Exception:
            log.warning("account %s deleted: could not remove %s; `opentr cleanup` will", owner_id, key, exc_info=True)
    if isinstance(storage, LocalStorage):
        try:
            directory = storage.path(str(owner_id))
            if directory.is_dir():
                shutil.rmtree(directory)
        except Exception:
            log.warning("account %s deleted: could not remove its storage directory", owner_id, exc_info=True)
