"""Search: ranked files with highlighted snippets; each hit opens the file page at the hit's time."""

from __future__ import annotations

from starlette.responses import Response

from repo.search import SearchRepository
from web.ui.render import View, page

MAX_QUERY = 500


@page("/search")
def search(view: View) -> Response:
    q = view.query("q")[:MAX_QUERY]
    results = SearchRepository(view.conn).search(view.actor, q) if q else []
    return view.render("search.html", q=q, results=results)


ROUTES = [search]
