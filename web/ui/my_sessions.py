"""The settings page's "Sessions": end one of your sessions, or every one but this (web/my_sessions.py's rules)."""

from __future__ import annotations

from starlette.responses import Response

from web import sessions
from web.my_sessions import end_one, end_others, sessions_of
from web.ui.render import View, page


@page("/settings/sessions/{uuid}/end", methods=("POST",))
def end_session(view: View) -> Response:
    uuid = view.uuid("uuid")
    current = any(s.current and s.uuid == uuid for s in sessions_of(view))
    end_one(view, uuid)
    if current:  # this browser's own: signed out
        response = view.redirect("/signin")
        sessions.end(response)
        return response
    return view.redirect("/settings#sessions")


@page("/settings/sessions/end-others", methods=("POST",))
def end_other_sessions(view: View) -> Response:
    end_others(view)
    return view.redirect("/settings#sessions")


ROUTES = [end_session, end_other_sessions]
