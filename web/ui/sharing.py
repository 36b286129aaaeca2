"""The share section of the file and collection pages, and its forms: who has access now (the owner, each person's
and group's share with its role, the grants a file inherits from a collection), sharing with a person by email or
with one of my groups as viewer / commenter / editor, changing a role, revoking. Only the owner sees the section's
controls; anyone else reads how the object reached them ("Shared with you by X as editor").

The forms work without a script (a POST with the csrf field, answered by a redirect back to the section); the
repository (repo/shares.py) decides what is allowed: sharing with nobody known or with oneself, an unknown role, an
editor resharing (403), revoking twice (404) are sentences on a page and change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final
from uuid import UUID

from starlette.responses import Response

from repo.errors import Conflict, Invalid, NotFound
from repo.file_access import Access, AccessRepository
from repo.groups import GroupRepository
from repo.shares import ROLES, ObjectKind, Share, ShareRepository
from web import shares
from web.ui.groups import NO_ACCOUNT
from web.ui.render import View, page

EXPLAINED: Final = {
    "viewer": "read, play, export",
    "commenter": "also comment",
    "editor": "also edit",
}
KINDS: Final[dict[str, ObjectKind]] = {"files": "file", "collections": "collection", "speakers": "speaker_profile"}


@dataclass(frozen=True, slots=True)
class ShareLine:
    """One grant as the owner sees it: a person (with their address) or a group, with a role; one inherited from a
    collection names it, and is changed on the collection's page."""

    uuid: UUID
    kind: str
    name: str
    email: str | None
    role: str
    inherited_from: str | None
    inherited_uuid: UUID | None


@dataclass(frozen=True, slots=True)
class GroupChoice:
    uuid: UUID
    name: str


@dataclass(frozen=True, slots=True)
class SharePanel:
    """What the share section shows (web/templates/_share.html)."""

    base: str  # the object's page address: its forms post under it
    what: str  # the object's name, for screen readers
    owner: bool
    owner_name: str
    my_role: str
    shared_by: str | None
    lines: list[ShareLine] = field(default_factory=list)
    groups: list[GroupChoice] = field(default_factory=list)
    open: bool = False
    roles: tuple[str, ...] = ROLES
    explained: dict[str, str] = field(default_factory=lambda: dict(EXPLAINED))


def _line(share: Share) -> ShareLine:
    if share.grantee_kind == "group":
        name = share.group_name or "a group"
    else:
        name = share.user_name or share.user_email or "someone"
    return ShareLine(
        share.uuid,
        share.grantee_kind,
        name,
        share.user_email,
        share.role,
        share.via_collection_name,
        share.via_collection_uuid,
    )


def _panel(view: View, kind: str, uuid: UUID, what: str, access: Access) -> SharePanel:
    lines, groups = [], []
    if access.owned:
        lines = [_line(s) for s in ShareRepository(view.conn).list(view.actor, KINDS[kind], uuid)]
        groups = [GroupChoice(g.uuid, g.name) for g in GroupRepository(view.conn).list(view.actor)]
    return SharePanel(
        base=f"/{kind}/{uuid}",
        what=what,
        owner=access.owned,
        owner_name=access.owner_name,
        my_role=access.role,
        shared_by=access.shared_by,
        lines=lines,
        groups=groups,
        open=view.query("share") == "open",
    )


def file_panel(view: View, uuid: UUID, what: str) -> tuple[Access, SharePanel]:
    """The actor's access to the file (its role decides the page's controls) and the file's share section."""
    access = AccessRepository(view.conn).file(view.actor, uuid)
    return access, _panel(view, "files", uuid, what, access)


def collection_panel(view: View, uuid: UUID, what: str) -> tuple[Access, SharePanel]:
    access = AccessRepository(view.conn).collection(view.actor, uuid)
    return access, _panel(view, "collections", uuid, what, access)


def _grantee(view: View) -> tuple[str | None, UUID | None]:
    """The form's person (an email) or group (one of the list), exactly one of them."""
    email = view.form.get("email", "").strip()
    group = view.form.get("group", "").strip()
    if email and group:
        raise Invalid("group: share with a person or with a group, one at a time", "group")
    if group:
        return None, view.chosen("group", "Group")
    if not email:
        raise Invalid("email: give the email of a person, or choose one of your groups", "email")
    return email, None


def _back(view: View, kind: str, uuid: UUID) -> Response:
    """To the share section of the object's page (a profile's card on the speakers page)."""
    return view.redirect(f"/speakers#profile-{uuid}" if kind == "speakers" else f"/{kind}/{uuid}#share")


def _share(view: View, kind: str) -> Response:
    email, group = _grantee(view)
    uuid = view.uuid("uuid")
    role = view.field("role", label="Role")
    try:
        shares.grant(view, KINDS[kind], uuid, role, user_email=email, group_uuid=group)
    except Conflict as exc:  # the API's 409 for a body naming no one: here, a field to correct
        if exc.field == "user_email":
            raise Invalid(NO_ACCOUNT, "email") from exc
        if exc.field == "group_uuid":
            raise Invalid("group: choose one of the groups you are in", "group") from exc
        raise
    return _back(view, kind, uuid)


def _change(view: View, kind: str) -> Response:
    """`action=revoke` takes the share back; otherwise the same grantee is granted the chosen role (sharing again
    with someone changes their role)."""
    repo, uuid, share = ShareRepository(view.conn), view.uuid("uuid"), view.uuid("share")
    if view.form.get("action") == "revoke":
        shares.revoke(view, KINDS[kind], uuid, share)
        return _back(view, kind, uuid)
    role = view.field("role", label="Role")
    found = [s for s in repo.list(view.actor, KINDS[kind], uuid) if s.uuid == share and s.via_collection_uuid is None]
    if not found:
        raise NotFound("share not found")
    shares.grant(view, KINDS[kind], uuid, role, user_email=found[0].user_email, group_uuid=found[0].group_uuid)
    return _back(view, kind, uuid)


@page("/files/{uuid}/shares", methods=("POST",))
def share_file(view: View) -> Response:
    """Share the file with a person or one of my groups."""
    return _share(view, "files")


@page("/files/{uuid}/shares/{share}", methods=("POST",))
def change_file_share(view: View) -> Response:
    """Change the role of a share of the file, or revoke it."""
    return _change(view, "files")


@page("/collections/{uuid}/shares", methods=("POST",))
def share_collection(view: View) -> Response:
    """Share the collection (its files, present and future) with a person or one of my groups."""
    return _share(view, "collections")


@page("/collections/{uuid}/shares/{share}", methods=("POST",))
def change_collection_share(view: View) -> Response:
    """Change the role of a share of the collection, or revoke it."""
    return _change(view, "collections")


@page("/speakers/{uuid}/shares", methods=("POST",))
def share_profile(view: View) -> Response:
    """Share a speaker profile with one of my groups (as viewer: the team names speakers with it)."""
    return _share(view, "speakers")


@page("/speakers/{uuid}/shares/{share}", methods=("POST",))
def change_profile_share(view: View) -> Response:
    """Revoke a share of a speaker profile."""
    return _change(view, "speakers")


ROUTES = [
    share_file,
    change_file_share,
    share_collection,
    change_collection_share,
    share_profile,
    change_profile_share,
]
