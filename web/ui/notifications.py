"""Notifications: the list (new ones arrive live through the page script's WebSocket) and marking them read."""

from __future__ import annotations

from starlette.responses import Response

from repo.notifications import NotificationRepository
from web.ui.render import View, page

SHOWN = 100
# Each notification says what it is about; a share's links to what was shared (its `data.url`: a file, a collection
# in the library, the speakers page).
KINDS = {
    "transcription": "transcript",
    "speakers": "speakers",
    "summary": "summary",
    "error": "problem",
    "system": "notice",
    "shared": "shared with you",
}


@page("/notifications")
def notifications(view: View) -> Response:
    items = NotificationRepository(view.conn).list(view.actor, limit=SHOWN)
    return view.render("notifications.html", notifications=items, kinds=KINDS)


@page("/notifications/read", methods=("POST",))
def mark_read(view: View) -> Response:
    NotificationRepository(view.conn).mark_read(view.actor)
    return view.redirect("/notifications")


ROUTES = [notifications, mark_read]
