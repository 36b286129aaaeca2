"""Sharing a file, a collection or a speaker profile with a user (by email) or a group (by uuid).

A share gives a role, a rank in the access rule (sql/fragments.sql, shared_files() of migration 0013):
**viewer** (read, play, export), **commenter** (+ comments), **editor** (+ edit segments, speakers, tags, re-run).
A collection share covers the files in it, present and future. A speaker profile is shared as viewer only: the
sharee sees it and uses it (naming speakers of their files with it, filtering by it, recognising the same voices),
and only its owner changes, merges or deletes it (sql/fragments.sql's profile_readable / profile_owned); a
commenter or editor role means nothing for a profile and is refused.

Only the owner shares, lists who has access and revokes (an administrator only in the explicit all-files view, as
for every other act on someone's file). Someone who can see the object but does not own it (an editor, a viewer)
is refused with Forbidden; someone who cannot see it gets NotFound, so its existence is not told. Sharing again
with the same grantee changes the role (an upsert on the unique indexes of `shares`) and notifies nobody; a new
share sends each recipient a `shared` notification ("Aiko shared 会議.wav with you"), as their preferences allow.

A group is shared with only by its members: a group one is not in is not one's to give access to (and, like an
unknown group, answers with a Conflict naming `group_uuid`, so nobody learns which groups exist). An address with
no account is a Conflict naming `user_email`: the request is well formed, it names no one — the API's convention
for a body reference that resolves to nothing. Sharing with oneself (or with the object's owner) is Invalid.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal
from uuid import UUID

from repo import statements as s
from repo.database import Connection
from repo.errors import Conflict, Forbidden, Invalid, NotFound
from repo.notifications import NotificationRepository
from repo.rows import Actor

ObjectKind = Literal["file", "collection", "speaker_profile"]
Role = Literal["viewer", "commenter", "editor"]
ROLES: Final = ("viewer", "commenter", "editor")
PROFILE_ROLES: Final = ("viewer",)
NOTIFICATION_KIND: Final = "shared"
# The page a notification links to, by the kind of object shared.
PAGES: Final = {"file": "/files/{uuid}", "collection": "/?collection={uuid}", "speaker_profile": "/speakers"}
NOUNS: Final = {"file": "file", "collection": "collection", "speaker_profile": "speaker profile"}


@dataclass(frozen=True, slots=True)
class Target:
    """The object being shared, as its owner (or whoever asks) reaches it."""

    id: int
    uuid: UUID
    name: str
    owner_id: int
    owned: bool


@dataclass(frozen=True, slots=True)
class Share:
    uuid: UUID
    role: str
    grantee_kind: str  # "user" or "group"
    user_uuid: UUID | None
    user_name: str | None
    user_email: str | None
    group_uuid: UUID | None
    group_name: str | None
    shared_by_uuid: UUID | None
    shared_by_name: str | None
    created_at: datetime
    via_collection_uuid: UUID | None  # a file's share inherited from a collection it is in
    via_collection_name: str | None


@dataclass(frozen=True, slots=True)
class SharedWithMe:
    object_kind: str
    object_uuid: UUID
    object_name: str
    role: str
    owner_name: str
    shared_by_name: str | None
    via_group_uuid: UUID | None
    via_group_name: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Granted:
    share: Share
    created: bool  # False: an existing share's role changed


@dataclass(frozen=True, slots=True)
class _Account:
    id: int
    name: str


@dataclass(frozen=True, slots=True)
class _Group:
    id: int
    name: str


@dataclass(frozen=True, slots=True)
class _Grant:
    uuid: UUID
    created: bool


@dataclass(frozen=True, slots=True)
class _Recipient:
    id: int


_targets = {
    "file": s.one_or_none("shares.file_target", Target),
    "collection": s.one_or_none("shares.collection_target", Target),
    "speaker_profile": s.one_or_none("shares.profile_target", Target),
}
_user_by_email = s.one_or_none("shares.user_by_email", _Account)
_my_group = s.one_or_none("shares.my_group", _Group)
_grant = s.one_or_none("shares.grant", _Grant)
_listing = s.many("shares.listing", Share)
_revoke = s.rowcount("shares.revoke")
_group_recipients = s.many("shares.group_recipients", _Recipient)
_sharer_name = s.scalar("shares.sharer_name", str)
_shared_with_me = s.many("shares.shared_with_me", SharedWithMe)


def _object_ids(kind: ObjectKind, target: Target) -> dict[str, int | None]:
    return {
        "media_file_id": target.id if kind == "file" else None,
        "collection_id": target.id if kind == "collection" else None,
        "speaker_profile_id": target.id if kind == "speaker_profile" else None,
    }


def _check_role(kind: ObjectKind, role: str) -> str:
    allowed = PROFILE_ROLES if kind == "speaker_profile" else ROLES
    if role not in allowed:
        raise Invalid(f"a {NOUNS[kind]} is shared as {' or '.join(allowed)}", "role")
    return role


class ShareRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def _owned(self, actor: Actor, kind: ObjectKind, uuid: UUID) -> Target:
        """The object, when the actor owns it; NotFound when they cannot see it, Forbidden when they only may."""
        target = _targets[kind](self.conn, uuid=uuid, **actor.scope())
        if target is None:
            raise NotFound(f"{NOUNS[kind]} not found")
        if not target.owned:
            raise Forbidden(f"only the owner of this {NOUNS[kind]} may share it or see who has access")
        return target

    def grant(
        self,
        actor: Actor,
        kind: ObjectKind,
        uuid: UUID,
        role: str,
        *,
        user_email: str | None = None,
        group_uuid: UUID | None = None,
    ) -> Granted:
        """Share the object with exactly one grantee, or change the role of their existing share."""
        if (user_email is None) == (group_uuid is None):
            raise Invalid("share with either a person (user_email) or a group (group_uuid), not both", "user_email")
        target = self._owned(actor, kind, uuid)
        role = _check_role(kind, role)
        user_id = group_id = None
        recipients: builtins.list[int] = []
        if user_email is not None:
            account = _user_by_email(self.conn, email=user_email)
            if account is None:
                raise Conflict("no account with this address", "user_email")
            if account.id == actor.id:
                raise Invalid("you cannot share with yourself", "user_email")
            if account.id == target.owner_id:
                raise Invalid(f"this person owns the {NOUNS[kind]}", "user_email")
            user_id, recipients = account.id, [account.id]
        elif group_uuid is not None:
            group = _my_group(self.conn, uuid=group_uuid, actor_id=actor.id)
            if group is None:
                raise Conflict("no group of yours with this uuid: you share with groups you are in", "group_uuid")
            group_id = group.id
        params = {**_object_ids(kind, target), "user_id": user_id, "group_id": group_id, "role": role}
        granted = _grant(self.conn, actor_id=actor.id, **params)
        if granted is None:  # a concurrent grant of the same share won the insert: now it exists, update it
            granted = _grant(self.conn, actor_id=actor.id, **params)
        if granted is None:
            raise Conflict("the share changed concurrently; try again")
        if granted.created:
            if group_id is not None:
                recipients = [
                    r.id
                    for r in _group_recipients(
                        self.conn, group_id=group_id, actor_id=actor.id, owner_id=target.owner_id
                    )
                ]
            self._notify(actor, kind, target, role, recipients)
        return Granted(self._one(kind, target, granted.uuid), granted.created)

    def _one(self, kind: ObjectKind, target: Target, share_uuid: UUID) -> Share:
        found = _listing(self.conn, **_object_ids(kind, target), share_uuid=share_uuid)
        if not found:
            raise NotFound("share not found")
        return found[0]

    def _notify(
        self, actor: Actor, kind: ObjectKind, target: Target, role: str, recipients: builtins.list[int]
    ) -> None:
        if not recipients:
            return
        sharer = _sharer_name(self.conn, actor_id=actor.id)
        title = f"{sharer} shared {target.name} with you"[:500]
        data = {
            "object_kind": kind,
            "object_uuid": str(target.uuid),
            "role": role,
            "url": PAGES[kind].format(uuid=target.uuid),
        }
        notifications = NotificationRepository(self.conn)
        for user_id in recipients:
            notifications.notify(
                user_id,
                NOTIFICATION_KIND,
                title,
                f"You are now a {role} of this {NOUNS[kind]}.",
                data,
                media_file_id=target.id if kind == "file" else None,
            )

    def list(self, actor: Actor, kind: ObjectKind, uuid: UUID) -> builtins.list[Share]:
        """Who has access, for the owner: each share, then (for a file) those it inherits from its collections."""
        target = self._owned(actor, kind, uuid)
        return _listing(self.conn, **_object_ids(kind, target), share_uuid=None)

    def revoke(self, actor: Actor, kind: ObjectKind, uuid: UUID, share_uuid: UUID) -> None:
        """Revoke one share of the object (its grantee loses that access at once); twice is NotFound."""
        target = self._owned(actor, kind, uuid)
        if _revoke(self.conn, share_uuid=share_uuid, **_object_ids(kind, target)) == 0:
            raise NotFound("share not found")

    def shared_with_me(self, actor: Actor) -> builtins.list[SharedWithMe]:
        """What others shared with the actor, directly or through their groups, newest first."""
        return _shared_with_me(self.conn, actor_id=actor.id)
