"""Administration: platform counts and the users (administrators only)."""

from __future__ import annotations

from starlette.responses import Response

from repo.users import UserRepository
from web.ui.render import View, page


@page("/admin", admin=True)
def admin(view: View) -> Response:
    users = UserRepository(view.conn)
    return view.render("admin.html", stats=users.stats(), users=users.list_all(view.actor, limit=200))


@page("/admin/users/{uuid}/delete", methods=("POST",), admin=True)
def delete_user(view: View) -> Response:
    if view.user is not None and view.uuid("uuid") == view.user.uuid:
        return view.redirect("/admin")  # deleting yourself from here would lock you out mid-page
    UserRepository(view.conn).delete(view.actor, view.uuid("uuid"))
    return view.redirect("/admin")


ROUTES = [admin, delete_user]
