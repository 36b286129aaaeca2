"""Sharing files, collections and speaker profiles, and what others shared with you. See repo/shares.py for the
roles and who may do what.

A share names exactly one grantee: `user_email` (a person with an account) or `group_uuid` (a group you are in).
The document says so with a `oneOf` (so a generated body never holds both); a body with both or neither is a 422
naming `user_email`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from repo.errors import Conflict, Forbidden
from repo.shares import Granted, ObjectKind, Share, SharedWithMe, ShareRepository
from web.audit_trail import audit, record_apart
from web.endpoint import Ctx, Endpoint, Router
from web.errors import Unprocessable
from web.fields import Email

router = Router("shares")

Role = Literal["viewer", "commenter", "editor"]
ProfileRole = Literal["viewer"]


def _one_grantee(schema: dict[str, Any]) -> None:
    """Exactly one of user_email and group_uuid, not null: what the handler enforces, in the document."""
    present = {"type": "string"}
    schema["oneOf"] = [
        {"required": ["user_email"], "properties": {"user_email": present, "group_uuid": {"type": "null"}}},
        {"required": ["group_uuid"], "properties": {"group_uuid": present, "user_email": {"type": "null"}}},
    ]


class ShareIn(BaseModel):
    """Share with a person or a group; sharing again with the same one changes the role."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_one_grantee)
    user_email: Email | None = Field(default=None, description="a person with an account (not you)")
    group_uuid: UUID | None = Field(default=None, description="a group you are in")
    role: Role = Field(description="viewer: read, play, export; commenter: + comments; editor: + edits")


class ProfileShareIn(BaseModel):
    """Share a speaker profile with a person or a group, as viewer: they see it and name their speakers with it;
    only you change, merge or delete it."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_one_grantee)
    user_email: Email | None = Field(default=None, description="a person with an account (not you)")
    group_uuid: UUID | None = Field(default=None, description="a group you are in")
    role: ProfileRole


class GranteeUserOut(BaseModel):
    uuid: UUID
    full_name: str
    email: str


class GranteeGroupOut(BaseModel):
    uuid: UUID
    name: str


class ShareOut(BaseModel):
    """One share. The grantee is `user` or `group` (the other is null): nested, so that a client (or a tool inferring
    links from field names) never takes a null for a group's or a person's uuid."""

    model_config = ConfigDict(from_attributes=True)
    uuid: UUID
    role: Role
    grantee_kind: Literal["user", "group"]
    user: GranteeUserOut | None
    group: GranteeGroupOut | None
    shared_by_uuid: UUID | None
    shared_by_name: str | None
    created_at: datetime
    inherited: bool = Field(description="true: the file has it through a collection; revoke it there")
    via_collection_uuid: UUID | None
    via_collection_name: str | None


class GrantOut(ShareOut):
    created: bool = Field(description="true: a new share (its grantees were notified); false: the role changed")


class SharedWithMeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    object_kind: Literal["file", "collection", "speaker_profile"]
    object_uuid: UUID
    object_name: str
    role: Role = Field(description="the highest role any of the shares gives you")
    owner_name: str
    shared_by_name: str | None
    via_group_uuid: UUID | None
    via_group_name: str | None
    created_at: datetime


def _fields(share: Share) -> dict[str, Any]:
    user = group = None
    if share.user_uuid is not None:
        user = GranteeUserOut(uuid=share.user_uuid, full_name=share.user_name or "", email=share.user_email or "")
    if share.group_uuid is not None:
        group = GranteeGroupOut(uuid=share.group_uuid, name=share.group_name or "")
    return {
        **{name: getattr(share, name) for name in share.__slots__},
        "user": user,
        "group": group,
        "inherited": share.via_collection_uuid is not None,
    }


def _out(share: Share) -> ShareOut:
    return ShareOut.model_validate(_fields(share))


def grant(
    ctx: Ctx, kind: ObjectKind, uuid: UUID, role: str, *, user_email: str | None, group_uuid: UUID | None
) -> Granted:
    """Share (or change a share's role): the one place the API and the pages (web/ui/sharing.py) both go through,
    so both leave the same row on the audit trail, `share.create` or `share.update`. Sharing what is not yours to
    share is recorded apart as refused (the refusal rolls the request's transaction back)."""
    grantee: dict[str, object] = {"user_email": user_email} if user_email else {"group": str(group_uuid)}
    try:
        granted = ShareRepository(ctx.conn).grant(
            ctx.actor, kind, uuid, role, user_email=user_email, group_uuid=group_uuid
        )
    except Forbidden:
        user_id = ctx.user.id if ctx.user is not None else None
        record_apart(
            ctx.services,
            ctx.request,
            "share.create",
            outcome="refused",
            actor_id=user_id,
            object_type=kind,
            object_id=uuid,
            details={**grantee, "role": role},
        )
        raise
    action = "share.create" if granted.created else "share.update"
    details = {**grantee, "role": role, "share": str(granted.share.uuid)}
    audit(ctx, action, object_type=kind, object_id=uuid, details=details)
    return granted


def revoke(ctx: Ctx, kind: ObjectKind, uuid: UUID, share_uuid: UUID) -> None:
    """Revoke one share (API and pages alike), recorded as `share.delete`."""
    ShareRepository(ctx.conn).revoke(ctx.actor, kind, uuid, share_uuid)
    audit(ctx, "share.delete", object_type=kind, object_id=uuid, details={"share": str(share_uuid)})


def _grant(ctx: Ctx, kind: ObjectKind, body: ShareIn | ProfileShareIn) -> GrantOut:
    if (body.user_email is None) == (body.group_uuid is None):
        raise Unprocessable("user_email: share with either a person (user_email) or a group (group_uuid)", "user_email")
    granted = grant(ctx, kind, ctx.uuid("uuid"), body.role, user_email=body.user_email, group_uuid=body.group_uuid)
    return GrantOut.model_validate({**_fields(granted.share), "created": granted.created})


def _routes(prefix: str, kind: ObjectKind, body: type[ShareIn] | type[ProfileShareIn], noun: str) -> list[Endpoint]:
    """The three share routes of one kind of object."""

    def list_shares(ctx: Ctx) -> list[ShareOut]:
        return [_out(share) for share in ShareRepository(ctx.conn).list(ctx.actor, kind, ctx.uuid("uuid"))]

    def share(ctx: Ctx, body: ShareIn | ProfileShareIn) -> GrantOut:
        return _grant(ctx, kind, body)

    def revoke_share(ctx: Ctx) -> None:
        revoke(ctx, kind, ctx.uuid("uuid"), ctx.uuid("share_uuid"))

    # Distinct handler names: the document's operationIds are the tag and the handler's name.
    for handler, verb in ((list_shares, "list"), (share, "share"), (revoke_share, "revoke")):
        handler.__name__ = handler.__qualname__ = f"{verb}_{kind}_shares" if verb != "share" else f"share_{kind}"
    router.get(
        f"{prefix}/{{uuid}}/shares",
        response=list[ShareOut],
        raises=(Forbidden,),
        summary=f"Who has access to a {noun} you own"
        + (", with the shares it inherits from its collections" if kind == "file" else ""),
    )(list_shares)
    router.post(
        f"{prefix}/{{uuid}}/shares",
        body=body,
        response=GrantOut,
        raises=(Forbidden, Conflict),
        summary=f"Share a {noun} you own with a person or a group, or change their role "
        "(409 naming user_email or group_uuid when it names no one you can share with)",
    )(share)
    router.delete(
        f"{prefix}/{{uuid}}/shares/{{share_uuid}}",
        status=204,
        raises=(Forbidden,),
        summary=f"Revoke one share of a {noun} you own",
    )(revoke_share)
    return router.endpoints[-3:]


_routes("/api/files", "file", ShareIn, "file")
_routes("/api/collections", "collection", ShareIn, "collection")
_routes("/api/speaker-profiles", "speaker_profile", ProfileShareIn, "speaker profile")


@router.get("/api/shared-with-me", response=list[SharedWithMeOut])
def shared_with_me(ctx: Ctx) -> list[SharedWithMe]:
    """Files, collections and speaker profiles others shared with you (directly or through your groups)."""
    return ShareRepository(ctx.conn).shared_with_me(ctx.actor)
