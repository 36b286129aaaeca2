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

from repo.errors import Invalid
from repo.file_access import Access, AccessRepository, ShareLine
from repo.groups import GroupRepository
from repo.shares import ShareRepository
from web.ui.render import View, page

ROLES: Final = ("viewer", "commenter", "editor")
EXPLAINED: Final = {
    "viewer": "reads, plays and exports",
    "commenter": "also comments",
    "editor": "also edits the transcript, speakers and tags",
}


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


def _panel(view: View, base: str, what: str, access: Access, lines: list[ShareLine]) -> SharePanel:
    groups = (
        [GroupChoice(g.uuid, g.name) for g in GroupRepository(view.conn).list_mine(view.actor)] if access.owned else []
    )
    return SharePanel(
        base=base,
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
    repo = AccessRepository(view.conn)
    access = repo.file(view.actor, uuid)
    lines = repo.file_shares(view.actor, uuid) if access.owned else []
    return access, _panel(view, f"/files/{uuid}", what, access, lines)


def collection_panel(view: View, uuid: UUID, what: str) -> tuple[Access, SharePanel]:
    repo = AccessRepository(view.conn)
    access = repo.collection(view.actor, uuid)
    lines = repo.collection_shares(view.actor, uuid) if access.owned else []
    return access, _panel(view, f"/collections/{uuid}", what, access, lines)


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


def _role(view: View) -> str:
    return view.field("role", label="Role")


def _share(view: View, kind: str) -> Response:
    email, group = _grantee(view)
    repo, uuid = ShareRepository(view.conn), view.uuid("uuid")
    if kind == "files":
        repo.share_file(view.actor, uuid, role=_role(view), email=email, group_uuid=group)
    else:
        repo.share_collection(view.actor, uuid, role=_role(view), email=email, group_uuid=group)
    return view.redirect(f"/{kind}/{uuid}#share")


def _change(view: View, kind: str) -> Response:
    """`action=revoke` takes the share back; otherwise the share gets the chosen role."""
    repo, uuid, share = ShareRepository(view.conn), view.uuid("uuid"), view.uuid("share")
    if view.form.get("action") == "revoke":
        repo.revoke(view.actor, share)
    else:
        repo.update_role(view.actor, share, _role(view))
    return view.redirect(f"/{kind}/{uuid}#share")


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


ROUTES = [share_file, change_file_share, share_collection, change_collection_share]
