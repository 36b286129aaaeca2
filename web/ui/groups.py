"""Groups: the groups I am in, creating one, and a group's page with its members (name, email, role). A group's
owners add people by email, change roles, remove members, rename and delete it; anyone may leave. Every form here
works without a script; the JSON API (web/groups.py) does the same for scripts.

What a person may do is the repository's to decide (repo/groups.py: a member changing the group is refused, a
stranger's group is not found); the page only leaves out the controls a member could not use.
"""

from __future__ import annotations

from starlette.responses import Response

from repo.errors import Conflict, Invalid
from repo.groups import GroupRepository
from web import groups as web_groups
from web.ui.render import View, page

ROLES = ("member", "owner")
# An address with no account is a request well formed that names no one (the API's 409); on a form it is a
# correction to make in the field, said as one.
NO_ACCOUNT = "email: nobody has an account with this address; they can register first, then be added"


def _group_page(view: View) -> str:
    return f"/groups/{view.uuid('uuid')}"


@page("/groups")
def groups(view: View) -> Response:
    """The groups I am in."""
    return view.render("groups.html", groups=GroupRepository(view.conn).list(view.actor))


@page("/groups/new", methods=("POST",))
def create(view: View) -> Response:
    description = view.form.get("description", "").strip() or None
    created = GroupRepository(view.conn).create(view.actor, view.field("name", label="Name"), description)
    return view.redirect(f"/groups/{created.uuid}")


@page("/groups/{uuid}")
def group(view: View) -> Response:
    """A group's page: its members; the owners' controls."""
    found = GroupRepository(view.conn).get(view.actor, view.uuid("uuid"))
    return view.render("group.html", group=found.group, members=found.members, roles=ROLES)


@page("/groups/{uuid}/edit", methods=("POST",))
def rename(view: View) -> Response:
    description = view.form.get("description", "").strip()
    GroupRepository(view.conn).update(
        view.actor, view.uuid("uuid"), name=view.field("name", label="Name"), description=description
    )
    return view.redirect(_group_page(view))


@page("/groups/{uuid}/delete", methods=("POST",))
def delete(view: View) -> Response:
    GroupRepository(view.conn).delete(view.actor, view.uuid("uuid"))
    return view.redirect("/groups")


@page("/groups/{uuid}/members", methods=("POST",))
def add_member(view: View) -> Response:
    """Add a person by the email of their account, as a member or an owner (someone in it already gets the role)."""
    email = view.field("email", label="Email")
    role = view.field("role", label="Role")
    try:
        web_groups.put_member(view, view.uuid("uuid"), email, role)
    except Conflict as exc:
        if exc.field != "email":
            raise
        raise Invalid(NO_ACCOUNT, "email") from exc
    return view.redirect(_group_page(view) + "#members")


@page("/groups/{uuid}/members/{member}", methods=("POST",))
def change_member(view: View) -> Response:
    """`action=role` gives the member the chosen role; `action=remove` takes them out of the group."""
    uuid, member = view.uuid("uuid"), view.uuid("member")
    if view.form.get("action") == "remove":
        web_groups.remove_member_of(view, uuid, member)
    else:
        web_groups.set_role(view, uuid, member, view.field("role", label="Role"))
    return view.redirect(_group_page(view) + "#members")


@page("/groups/{uuid}/leave", methods=("POST",))
def leave(view: View) -> Response:
    """Leave the group (its last owner cannot: the repository says to make someone else an owner first)."""
    user = view.user
    assert user is not None  # a page with auth=True
    web_groups.remove_member_of(view, view.uuid("uuid"), user.uuid)
    return view.redirect("/groups")


ROUTES = [groups, create, group, rename, delete, add_member, change_member, leave]
