"""The settings page's "Download everything of mine" and "Delete my account": the JSON routes' rules
(web/my_data.py), as forms. The list of exports is on the settings page itself (web/ui/settings.py)."""

from __future__ import annotations

from starlette.responses import Response

from repo.data_exports import DataExportRepository
from web import sessions
from web.my_data import ExportOut, delete_account, export_out, request_export
from web.ui.render import View, page


def exports_of(view: View) -> list[ExportOut]:
    """The person's exports as the settings page lists them (the JSON route's shape: status, link, expiry)."""
    return [export_out(e) for e in DataExportRepository(view.conn).list(view.actor, limit=10)]


@page("/settings/export", methods=("POST",))
def ask_export(view: View) -> Response:
    request_export(view)
    return view.redirect("/settings#my-data")


@page("/settings/delete-account", methods=("POST",))
def delete_my_account(view: View) -> Response:
    """Confirmed by the password (or, for an account without one, the e-mail address); then signed out."""
    delete_account(view, view.form.get("password") or None, view.form.get("email") or None)
    response = view.redirect("/signin?deleted=1")
    sessions.end(response)
    return response


ROUTES = [ask_export, delete_my_account]
