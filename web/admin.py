"""Administration: users and platform statistics (administrators only)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from repo.media_files import MediaFileRepository, OwnedFile
from repo.users import Stats, User, UserRepository
from web.audit_trail import audit
from web.auth import UserOut
from web.endpoint import Ctx, Router
from web.fields import Email
from web.two_factor import require_of

router = Router("admin")


class UserListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limit: int = Field(default=100, ge=1, le=500)
    after: int | None = Field(default=None, ge=0, le=2**63 - 1, description="opaque position from the previous page")


class NewUserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Email
    password: str = Field(min_length=8, max_length=256)
    full_name: str = Field(default="", max_length=200)
    role: Literal["user", "admin"] = "user"


class UserUpdateIn(BaseModel):
    """Absent fields stay as they are."""

    model_config = ConfigDict(extra="forbid")
    role: Literal["user", "admin"] | None = None
    is_active: bool | None = Field(default=None, description="false: the user's tokens are revoked at once")
    full_name: str | None = Field(default=None, max_length=200)
    password: str | None = Field(
        default=None, min_length=8, max_length=256, description="a new password; the user's tokens are revoked"
    )
    two_factor_required: bool | None = Field(
        default=None, description="require two factors of this user: their next password sign-in sets them up"
    )


class StatsOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    users: int
    files: int
    processing: int
    segments: int
    storage_bytes: int
    total_duration: float


@router.get("/api/admin/users", query=UserListQuery, response=list[UserOut], admin=True)
def list_users(ctx: Ctx, query: UserListQuery) -> list[User]:
    """Every user, oldest first."""
    return UserRepository(ctx.conn).list_all(ctx.actor, after_id=query.after, limit=query.limit)


@router.post("/api/admin/users", body=NewUserIn, response=UserOut, status=201, admin=True)
def create_user(ctx: Ctx, body: NewUserIn) -> User:
    """Create a user or another administrator."""
    created = UserRepository(ctx.conn).create(body.email, body.password, body.full_name, body.role)
    audit(
        ctx,
        "admin.user_create",
        object_type="user",
        object_id=created.uuid,
        details={"email": created.email, "role": body.role},
    )
    return created


@router.put("/api/admin/users/{uuid}", body=UserUpdateIn, response=UserOut, admin=True)
def update_user(ctx: Ctx, body: UserUpdateIn) -> User:
    """Change a user's role, name or password, require two factors of them, or (de)activate them; deactivating ends
    their sessions at once."""
    return admin_update_user(ctx, ctx.uuid("uuid"), body)


@router.delete("/api/admin/users/{uuid}", status=204, admin=True)
def delete_user(ctx: Ctx) -> None:
    """Delete a user and everything they own."""
    remove_user(ctx, ctx.uuid("uuid"))


def admin_update_user(ctx: Ctx, target: UUID, body: UserUpdateIn) -> User:
    """An administrator's change to an account (the API's and the admin page's), recorded as one `admin.user_update`
    row with what changed: never the new password, only that it was reset; `two_factor_required` only when it changed
    (it is kept with the second factor, web/two_factor.py)."""
    fields = body.model_dump(exclude={"two_factor_required"})
    updated = UserRepository(ctx.conn).admin_update(ctx.actor, target, **fields)
    changes: dict[str, object] = {k: v for k, v in fields.items() if v is not None and k != "password"}
    if body.password is not None:
        changes["password_reset"] = True
    if body.two_factor_required is not None and require_of(ctx, updated, body.two_factor_required):
        changes["two_factor_required"] = body.two_factor_required
    audit(ctx, "admin.user_update", object_type="user", object_id=target, details={"email": updated.email, **changes})
    return updated


def remove_user(ctx: Ctx, target: UUID) -> None:
    """An administrator deletes an account (API and page), recorded as `admin.user_delete` with the e-mail it had."""
    users = UserRepository(ctx.conn)
    email = users.get(ctx.actor, target).email
    users.delete(ctx.actor, target)
    audit(ctx, "admin.user_delete", object_type="user", object_id=target, details={"email": email})


@router.get("/api/admin/stats", response=StatsOut, admin=True)
def stats(ctx: Ctx) -> Stats:
    """Counts across the platform."""
    return UserRepository(ctx.conn).stats()


class AllFilesQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limit: int = Field(default=100, ge=1, le=500)
    after: int | None = Field(default=None, ge=0, le=2**63 - 1, description="opaque position from the previous page")


class OwnedFileOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    uuid: UUID
    filename: str
    title: str | None
    status: str
    duration: float | None
    file_size: int
    upload_time: datetime
    owner_uuid: UUID
    owner_email: str
    owner_name: str


class AllFilesOut(BaseModel):
    items: list[OwnedFileOut]
    next: int | None = Field(description="pass as `after` for the next page; null on the last page")


def all_files_page(ctx: Ctx, after: int | None, limit: int) -> tuple[list[OwnedFile], int | None]:
    """One page of every user's files. This is the explicit all-files view, recorded like `?view=all`."""
    rows = MediaFileRepository(ctx.conn).all_files(ctx.seeing_all(), after_id=after, limit=limit + 1)
    items = rows[:limit]
    return items, (items[-1].id if len(rows) > limit else None)


@router.get("/api/admin/files", query=AllFilesQuery, response=AllFilesOut, admin=True)
def all_files(ctx: Ctx, query: AllFilesQuery) -> AllFilesOut:
    """Every user's files with their owner, newest first (the all-files view; each use is recorded)."""
    items, after = all_files_page(ctx, query.after, query.limit)
    return AllFilesOut(items=[OwnedFileOut.model_validate(x) for x in items], next=after)
