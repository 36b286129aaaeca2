"""Groups: create, rename, delete, members with a role (owner, member). See repo/groups.py for who may do what."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from repo.errors import Conflict, Forbidden
from repo.groups import MAX_DESCRIPTION_LENGTH, MAX_NAME_LENGTH, Group, GroupDetail, GroupRepository, Member
from web.audit_trail import audit
from web.endpoint import Ctx, Router
from web.fields import NOT_BLANK, TRIMMED_NOT_BLANK, Email

router = Router("groups")

GroupName = Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME_LENGTH), NOT_BLANK, TRIMMED_NOT_BLANK]
GroupRole = Literal["owner", "member"]


class GroupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: GroupName
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION_LENGTH)


class GroupEditIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: GroupName | None = None
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION_LENGTH, description='"" clears it')


class MemberIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Email = Field(description="the address of an account on this server")
    role: GroupRole = "member"


class RoleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: GroupRole


class GroupOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    uuid: UUID
    name: str
    description: str | None
    my_role: GroupRole | None = Field(description="your role in the group; null for an administrator not in it")
    member_count: int
    created_at: datetime
    updated_at: datetime


class MemberOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    user_uuid: UUID
    full_name: str
    email: str
    role: GroupRole
    added_at: datetime


class GroupDetailOut(GroupOut):
    members: list[MemberOut]


def _detail(detail: GroupDetail) -> GroupDetailOut:
    group = GroupOut.model_validate(detail.group)
    return GroupDetailOut(**group.model_dump(), members=[MemberOut.model_validate(m) for m in detail.members])


@router.get("/api/groups", response=list[GroupOut])
def list_groups(ctx: Ctx) -> list[Group]:
    """The groups you are in, by name, with your role in each."""
    return GroupRepository(ctx.conn).list(ctx.actor)


@router.post("/api/groups", body=GroupIn, response=GroupOut, status=201)
def create_group(ctx: Ctx, body: GroupIn) -> Group:
    """Create a group; you become its owner."""
    return GroupRepository(ctx.conn).create(ctx.actor, body.name, body.description)


@router.get("/api/admin/groups", response=list[GroupOut], admin=True)
def list_all_groups(ctx: Ctx) -> list[Group]:
    """Every group on the server, by name (administrators)."""
    return GroupRepository(ctx.conn).list_all(ctx.actor)


@router.get("/api/groups/{uuid}", response=GroupDetailOut)
def get_group(ctx: Ctx) -> GroupDetailOut:
    """A group you are in, with its members (owners first)."""
    return _detail(GroupRepository(ctx.conn).get(ctx.actor, ctx.uuid("uuid")))


@router.put("/api/groups/{uuid}", body=GroupEditIn, response=GroupOut, raises=(Forbidden,))
def update_group(ctx: Ctx, body: GroupEditIn) -> Group:
    """Rename a group or change its description (owners); omitted fields stay as they are."""
    return GroupRepository(ctx.conn).update(ctx.actor, ctx.uuid("uuid"), name=body.name, description=body.description)


@router.delete("/api/groups/{uuid}", status=204, raises=(Forbidden,))
def delete_group(ctx: Ctx) -> None:
    """Delete a group (owners): every share made to it goes, and its members lose that access."""
    GroupRepository(ctx.conn).delete(ctx.actor, ctx.uuid("uuid"))


@router.post("/api/groups/{uuid}/members", body=MemberIn, response=MemberOut, status=201, raises=(Forbidden, Conflict))
def add_member(ctx: Ctx, body: MemberIn) -> Member:
    """Add the account with this address (owners); someone already in gets this role. 409 naming `email` when no
    account has the address, 409 when it would leave the group without an owner."""
    return put_member(ctx, ctx.uuid("uuid"), body.email, body.role)


@router.put("/api/groups/{uuid}/members/{user_uuid}", body=RoleIn, response=MemberOut, raises=(Forbidden, Conflict))
def change_role(ctx: Ctx, body: RoleIn) -> Member:
    """Change a member's role (owners); 409 when the last owner would become a member."""
    return set_role(ctx, ctx.uuid("uuid"), ctx.uuid("user_uuid"), body.role)


@router.delete("/api/groups/{uuid}/members/{user_uuid}", status=204, raises=(Forbidden, Conflict))
def remove_member(ctx: Ctx) -> None:
    """Remove a member (owners), or leave the group (your own uuid); 409 for the last owner."""
    remove_member_of(ctx, ctx.uuid("uuid"), ctx.uuid("user_uuid"))


# Membership changes, shared by these routes and the group page (web/ui/groups.py), each on the audit trail with the
# group as its object and the member in the details.
def put_member(ctx: Ctx, group_uuid: UUID, email: str, role: str) -> Member:
    member = GroupRepository(ctx.conn).put_member(ctx.actor, group_uuid, email, role)
    details = {"member": str(member.user_uuid), "email": member.email, "role": member.role}
    audit(ctx, "group.member_add", object_type="group", object_id=group_uuid, details=details)
    return member


def set_role(ctx: Ctx, group_uuid: UUID, user_uuid: UUID, role: str) -> Member:
    member = GroupRepository(ctx.conn).set_role(ctx.actor, group_uuid, user_uuid, role)
    details = {"member": str(user_uuid), "email": member.email, "role": member.role}
    audit(ctx, "group.member_update", object_type="group", object_id=group_uuid, details=details)
    return member


def remove_member_of(ctx: Ctx, group_uuid: UUID, user_uuid: UUID) -> None:
    GroupRepository(ctx.conn).remove_member(ctx.actor, group_uuid, user_uuid)
    details = {"member": str(user_uuid), "left": ctx.user is not None and ctx.user.uuid == user_uuid}
    audit(ctx, "group.member_remove", object_type="group", object_id=group_uuid, details=details)
