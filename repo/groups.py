"""Groups of users: a newsroom, a research group, a legal team. Files, collections and speaker profiles are shared
with a group (repo/shares.py); whoever is in the group at the time gets the access, and loses it on leaving.

Roles in a group: an **owner** renames, describes and deletes it and adds, changes and removes members; a **member**
sees the group and its members and may leave. An administrator may do what an owner does to any group. A group
always keeps an owner: demoting or removing the last one is refused (Conflict), so nobody is left with a group no
one can manage. Someone not in a group does not learn it exists (NotFound); a member trying an owner's action is
Forbidden.
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
from repo.rows import Actor, trimmed

MAX_NAME_LENGTH: Final = 200
MAX_DESCRIPTION_LENGTH: Final = 2000
GroupRole = Literal["owner", "member"]
NO_OWNER_LEFT: Final = "a group needs at least one owner: make another member an owner first, or delete the group"


@dataclass(frozen=True, slots=True)
class Group:
    id: int
    uuid: UUID
    name: str
    description: str | None
    my_role: str | None  # the actor's role in it; None for an administrator who is not in it
    member_count: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Member:
    user_uuid: UUID
    full_name: str
    email: str
    role: str
    added_at: datetime


@dataclass(frozen=True, slots=True)
class GroupDetail:
    group: Group
    members: builtins.list[Member]


@dataclass(frozen=True, slots=True)
class _Account:
    user_id: int
    user_uuid: UUID
    role: str


_create = s.one("groups.create", Group)
_list_mine = s.many("groups.list_mine", Group)
_list_all = s.many("groups.list_all", Group)
_get = s.one_or_none("groups.get", Group)
_lock = s.execute("groups.lock")
_update = s.one("groups.update", Group)
_delete = s.rowcount("groups.delete")
_members = s.many("groups.members", Member)
_member = s.one_or_none("groups.member", _Account)
_user_by_email = s.one_or_none("groups.user_by_email", _Account)
_owner_count = s.scalar("groups.owner_count", int)
_put_member = s.one("groups.put_member", Member)
_remove_member = s.rowcount("groups.remove_member")


def clean_name(name: str) -> str:
    return trimmed(name, "name", MAX_NAME_LENGTH, "a group name")


def _description(description: str | None) -> str | None:
    if description is not None and len(description) > MAX_DESCRIPTION_LENGTH:
        raise Invalid(f"a description has at most {MAX_DESCRIPTION_LENGTH} characters", "description")
    return description


def _role(role: str) -> str:
    if role not in ("owner", "member"):
        raise Invalid("role is owner or member", "role")
    return role


class GroupRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # --- reading --------------------------------------------------------------------------------------------------

    def _visible(self, actor: Actor, uuid: UUID, *, lock: bool = False) -> Group:
        """The group, when the actor is in it (or is an administrator). With `lock`, it is read again once its row
        is locked: a concurrent change of membership committed meanwhile (the actor demoted, removed) counts."""
        found = _get(self.conn, uuid=uuid, actor_id=actor.id, actor_is_admin=actor.is_admin)
        if found is not None and lock:
            _lock(self.conn, group_id=found.id)
            found = _get(self.conn, uuid=uuid, actor_id=actor.id, actor_is_admin=actor.is_admin)
        if found is None:
            raise NotFound("group not found")
        return found

    def _managed(self, actor: Actor, uuid: UUID, *, lock: bool = False) -> Group:
        """A group the actor may manage: its owner, or an administrator."""
        group = self._visible(actor, uuid, lock=lock)
        if group.my_role != "owner" and not actor.is_admin:
            raise Forbidden("only an owner of the group may do this")
        return group

    def list(self, actor: Actor) -> builtins.list[Group]:
        """The groups the actor is in, by name (an administrator's own too; list_all gives every group)."""
        return _list_mine(self.conn, actor_id=actor.id)

    def list_all(self, actor: Actor) -> builtins.list[Group]:
        if not actor.is_admin:
            raise Forbidden("only an administrator lists every group")
        return _list_all(self.conn, actor_id=actor.id, actor_is_admin=actor.is_admin)

    def get(self, actor: Actor, uuid: UUID) -> GroupDetail:
        """A group the actor is in, with its members (names, addresses, roles): owners first."""
        group = self._visible(actor, uuid)
        return GroupDetail(group, _members(self.conn, group_id=group.id))

    # --- the group itself -----------------------------------------------------------------------------------------

    def create(self, actor: Actor, name: str, description: str | None = None) -> Group:
        """A new group with the actor as its owner (names need not be unique: two teams may both be "Research")."""
        return _create(
            self.conn, name=clean_name(name), description=_description(description) or None, actor_id=actor.id
        )

    def update(self, actor: Actor, uuid: UUID, *, name: str | None = None, description: str | None = None) -> Group:
        """Rename or describe (owners, administrators); None keeps a field, an empty description clears it."""
        group = self._managed(actor, uuid)
        return _update(
            self.conn,
            group_id=group.id,
            name=clean_name(name) if name is not None else None,
            description=_description(description),
            my_role=group.my_role,
        )

    def delete(self, actor: Actor, uuid: UUID) -> None:
        """The group goes, and with it every share made to it (its members lose that access at once)."""
        group = self._managed(actor, uuid, lock=True)
        _delete(self.conn, group_id=group.id)

    # --- members --------------------------------------------------------------------------------------------------

    def put_member(self, actor: Actor, uuid: UUID, email: str, role: str) -> Member:
        """Add the account with this address as `role`, or change the role of someone already in (owners,
        administrators). An address with no account is a Conflict naming `email`: the request is well formed,
        it names no one."""
        group = self._managed(actor, uuid, lock=True)
        account = _user_by_email(self.conn, email=email)
        if account is None:
            raise Conflict("no account with this address", "email")
        return self._put(group, account.user_id, account.user_uuid, _role(role))

    def set_role(self, actor: Actor, uuid: UUID, user_uuid: UUID, role: str) -> Member:
        """Change a member's role (owners, administrators); the last owner cannot become a mere member."""
        group = self._managed(actor, uuid, lock=True)
        member = _member(self.conn, group_id=group.id, user_uuid=user_uuid)
        if member is None:
            raise NotFound("not a member of this group")
        return self._put(group, member.user_id, member.user_uuid, _role(role))

    def _put(self, group: Group, user_id: int, user_uuid: UUID, role: str) -> Member:
        current = _member(self.conn, group_id=group.id, user_uuid=user_uuid)
        if current is not None and current.role == "owner" and role != "owner" and self._last_owner(group):
            raise Conflict(NO_OWNER_LEFT, "role")
        return _put_member(self.conn, group_id=group.id, user_id=user_id, role=role)

    def remove_member(self, actor: Actor, uuid: UUID, user_uuid: UUID) -> None:
        """Remove a member (owners, administrators), or leave (anyone, themselves). The last owner cannot go."""
        group = self._visible(actor, uuid, lock=True)
        member = _member(self.conn, group_id=group.id, user_uuid=user_uuid)
        leaving = member is not None and member.user_id == actor.id
        if not leaving and group.my_role != "owner" and not actor.is_admin:
            raise Forbidden("only an owner of the group may remove someone else")
        if member is None:
            raise NotFound("not a member of this group")
        if member.role == "owner" and self._last_owner(group):
            raise Conflict(NO_OWNER_LEFT, "user_uuid")
        _remove_member(self.conn, group_id=group.id, user_id=member.user_id)

    def _last_owner(self, group: Group) -> bool:
        return _owner_count(self.conn, group_id=group.id) <= 1
