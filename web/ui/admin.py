"""Administration: platform counts, the users (edit, delete), tags no file carries, the audit trail, retention
and legal holds (web/ui/retention.py; administrators only).

The forms call the same functions as PUT /api/admin/users/{uuid} and DELETE /api/admin/tags/unused; the audit trail's
page reads the filters of GET /api/admin/audit and links to its CSV with them.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

from starlette.responses import Response

from repo.audit import ACTIONS, OUTCOMES
from repo.tags import TagRepository
from repo.two_factor import TwoFactorRepository
from repo.users import UserRepository
from web import two_factor
from web.admin import UserUpdateIn, admin_update_user, all_files_page, remove_user
from web.admin_audit import FILTERS, page_query, read_page
from web.ui import llm_usage, retention
from web.ui.render import View, page


@page("/admin", admin=True)
def admin(view: View) -> Response:
    users = UserRepository(view.conn)
    listed = users.list_all(view.actor, limit=200)
    return view.render(
        "admin.html",
        stats=users.stats(),
        users=listed,
        **llm_usage.admin_section(view, listed),
        unused_tags=TagRepository(view.conn).list_unused(),
        **retention.admin_section(view),
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
    remove_user(view, view.uuid("uuid"))
    return view.redirect("/admin")


@page("/admin/files", admin=True)
def all_files(view: View) -> Response:
    """Every user's files with their owners (the all-files view; each visit is recorded)."""
    after = view.query("after")
    items, next_after = all_files_page(view, int(after) if after.isdigit() else None, 200)
    return view.render("admin_files.html", files=items, next_after=next_after)


@page("/admin/audit", admin=True)
def audit_trail(view: View) -> Response:
    """The audit trail, newest first, filtered; a page at a time, and a link to the same rows as CSV."""
    items, next_cursor = read_page(view, page_query(view.request.query_params))
    filters = {name: view.query(name) for name in FILTERS if view.query(name)}
    rows = [(e, json.dumps(e.details, ensure_ascii=False, sort_keys=True) if e.details else "") for e in items]
    return view.render(
        "admin_audit.html",
        rows=rows,
        filters=filters,
        next_query=urlencode({**filters, "cursor": next_cursor}) if next_cursor else None,
        csv_query=urlencode(filters),
        actions=ACTIONS,
        outcomes=OUTCOMES,
    )


ROUTES = [admin, all_files, audit_trail, edit_user, delete_user, delete_unused_tags, edit_instance_settings]
