"""Search: ranked files with highlighted snippets; each hit opens the file page at the hit's time.

The page offers the three modes of /api/search (words, meaning, both); where search by meaning is off (no pgvector,
no embedding model) its choices are disabled with the reason, and `both` searches by words and says so. By words, a
common query's files come newest first, which the page says, and "More results" continues in the same order.
"""

from __future__ import annotations

from starlette.responses import Response

from repo.search import COMMON, MODES, SearchMode, SearchOrder, SearchRepository
from web.search import meaning_off, meaning_query
from web.ui.render import View, page

MAX_QUERY = 500
MODE_LABELS: dict[SearchMode, str] = {"words": "Words", "meaning": "Meaning", "both": "Both"}


@page("/search")
def search(view: View) -> Response:
    q = view.query("q")[:MAX_QUERY]
    asked = view.query("mode")
    mode: SearchMode = next((m for m in MODES if m == asked), "words")
    settings = view.services.settings
    off = meaning_off(settings, view.conn, load=bool(q) and mode != "words")
    ran: SearchMode = "words" if off else mode
    results = []
    order: SearchOrder | None = None
    next_cursor: str | None = None
    if q and ran == "words":
        found = SearchRepository(view.conn).page(view.actor, q, after=view.query("cursor") or None)
        results, order, next_cursor = found.files, found.order, found.next_cursor
    elif q and not (off and mode == "meaning"):
        results = SearchRepository(view.conn).search(view.actor, q, mode=ran, meaning=meaning_query(settings, q))
    return view.render(
        "search.html",
        q=q,
        mode=mode,
        ran=ran,
        off=off,
        modes=MODE_LABELS,
        results=results,
        order=order,
        common=COMMON,
        next_cursor=next_cursor,
        paged=bool(view.query("cursor")),
    )


ROUTES = [search]
