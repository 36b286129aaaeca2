"""Search: ranked files with highlighted snippets; each hit opens the file page at the hit's time.

The page offers the three modes of /api/search (words, meaning, both); where search by meaning is off (no pgvector,
no embedding model) its choices are disabled with the reason, and `both` searches by words and says so.
"""

from __future__ import annotations

from starlette.responses import Response

from repo.search import MODES, SearchMode, SearchRepository
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
    if q and not (off and mode == "meaning"):
        meaning = meaning_query(settings, q) if ran != "words" else None
        results = SearchRepository(view.conn).search(view.actor, q, mode=ran, meaning=meaning)
    return view.render("search.html", q=q, mode=mode, ran=ran, off=off, modes=MODE_LABELS, results=results)


ROUTES = [search]
