"""Administration: platform counts, the users (edit, delete), tags no file carries, retention and legal holds
(web/ui/retention.py; administrators only).

The forms call the same repository methods as PUT /api/admin/users/{uuid} and DELETE /api/admin/tags/unused.
"""

from __future__ import annotations

from starlette.responses import Response

from repo.tags import TagRepository
from repo.users import UserRepository
from web.admin import UserUpdateIn, all_files_page
from web.ui import retention
from web.ui.render import View, page


@page("/admin", admin=True)
def admin(view: View) -> Response:
    users = UserRepository(view.conn)
    return view.render(
        "admin.html",
        stats=users.stats(),
        users=users.list_all(view.actor, limit=200),
        unused_tags=TagRepository(view.conn).list_unused(),
        **retention.admin_section(view),
    )


@page("/admin/users/{uuid}", methods=("POST",), admin=True)
def edit_user(view: View) -> Response:
    """Role, name, active, and optionally a new password (which ends the user's sessions)."""
    body = UserUpdateIn.model_validate(
        {
            "role": view.form.get("role") or None,
            "full_name": view.form.get("full_name", "").strip(),
            "is_active": view.form.get("is_active") == "on",
            "password": view.form.get("password") or None,
        }
    )
    UserRepository(view.conn).admin_update(view.actor, view.uuid("uuid"), **body.model_dump())
    return view.redirect("/admin#users")


@page("/admin/tags/unused/delete", methods=("POST",), admin=True)
def delete_unused_tags(view: View) -> Response:
    TagRepository(view.conn).delete_unused(view.actor)
    return view.redirect("/admin#tags")


@page("/admin/users/{uuid}/delete", methods=("POST",), admin=True)
def delete_user(view: View) -> Response:
    if view.user is not None and view.uuid("uuid") == view.user.uuid:
        return view.redirect("/admin")  # deleting yourself from here would lock you out mid-page
    UserRepository(view.conn).delete(view.actor, view.uuid("uuid"))
    return view.redirect("/admin")


@page("/admin/files", admin=True)
def all_files(view: View) -> Response:
    """Every user's files with their owners (the all-files view; each visit is recorded)."""
    after = view.query("after")
    items, next_after = all_files_page(view, int(after) if after.isdigit() else None, 200)
    return view.render("admin_files.html", files=items, next_after=next_after)


ROUTES = [admin, all_files, edit_user, delete_user, delete_unused_tags]
