"""Administration: platform counts, the users (edit, delete) and tags no file carries (administrators only).

The forms call the same repository methods as PUT /api/admin/users/{uuid} and DELETE /api/admin/tags/unused.
"""

from __future__ import annotations

from starlette.responses import Response

from repo.tags import TagRepository
from repo.two_factor import TwoFactorRepository
from repo.users import UserRepository
from web import two_factor
from web.admin import UserUpdateIn, admin_update_user, all_files_page
from web.ui.render import View, page


@page("/admin", admin=True)
def admin(view: View) -> Response:
    users = UserRepository(view.conn)
    return view.render(
        "admin.html",
        stats=users.stats(),
        users=users.list_all(view.actor, limit=200),
        unused_tags=TagRepository(view.conn).list_unused(),
        two_factor_required=TwoFactorRepository(view.conn, view.services.master_key).required_user_ids(),
        instance=two_factor.instance_settings(view),
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
            "two_factor_required": view.form.get("two_factor_required") == "on",
        }
    )
    admin_update_user(view, view.uuid("uuid"), body)
    return view.redirect("/admin#users")


@page("/admin/instance-settings", methods=("POST",), admin=True)
def edit_instance_settings(view: View) -> Response:
    """What applies to everyone: two factors required (PUT /api/admin/instance-settings)."""
    body = two_factor.InstanceSettingsIn(two_factor_required=view.form.get("two_factor_required") == "on")
    two_factor.update_instance_settings(view, body)
    return view.redirect("/admin#signin")


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


ROUTES = [admin, all_files, edit_user, delete_user, delete_unused_tags, edit_instance_settings]
