"""The Ask page: a question about everything one can see (the answer streams in: /static/ask.js and POST /api/ask),
and one's history of questions, each deletable, all at once too. The Ask box of the file and collection pages is the
same template (`_ask.html`)."""

from __future__ import annotations

from uuid import UUID

from starlette.responses import Response

from repo.errors import NotFound
from repo.questions import QuestionRepository
from web.ui.render import View, page

PAGE_SIZE = 20


@page("/ask")
def ask(view: View) -> Response:
    """Ask everything you can see; your questions, newest first."""
    try:
        cursor = UUID(view.query("cursor")) if view.query("cursor") else None
    except ValueError:
        raise NotFound("that page of questions does not exist") from None
    rows = QuestionRepository(view.conn).list(view.actor, limit=PAGE_SIZE + 1, cursor=cursor)
    questions = rows[:PAGE_SIZE]
    next_cursor = questions[-1].uuid if len(rows) > PAGE_SIZE else None
    return view.render("ask.html", questions=questions, next_cursor=next_cursor)


@page("/ask/questions/{uuid}/delete", methods=("POST",))
def delete(view: View) -> Response:
    QuestionRepository(view.conn).delete(view.actor, view.uuid("uuid"))
    return view.redirect("/ask")


@page("/ask/questions/delete", methods=("POST",))
def delete_all(view: View) -> Response:
    QuestionRepository(view.conn).delete_all(view.actor)
    return view.redirect("/ask")


ROUTES = [ask, delete_all, delete]
