"""The library (the file list with filters, status badges, live progress, keyset "load more") and the upload page.

Uploading itself goes to the JSON API (`POST /api/files`, with the session cookie and the CSRF header) from the
page's script, which shows a progress bar per file; the page only collects the files and options.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from starlette.responses import Response

from repo.collections import CollectionRepository
from repo.library import STATUSES
from repo.media_files import MediaFileRepository
from repo.tags import TagRepository
from web.ui.render import View, page

PAGE_SIZE = 25
TERMINAL = ("completed", "error", "cancelled", "orphaned")


def _filters(view: View) -> dict[str, str]:
    wanted = {name: view.query(name) for name in ("status", "tag", "collection", "q")}
    if wanted["status"] not in STATUSES:
        wanted["status"] = ""
    try:
        wanted["collection"] = str(UUID(wanted["collection"])) if wanted["collection"] else ""
    except ValueError:
        wanted["collection"] = ""
    return wanted


def _page(view: View, filters: dict[str, str]) -> dict[str, Any]:
    files = MediaFileRepository(view.conn).list_page(
        view.actor,
        status=filters["status"] or None,
        tag=filters["tag"] or None,
        collection=UUID(filters["collection"]) if filters["collection"] else None,
        q=filters["q"] or None,
        limit=PAGE_SIZE,
        cursor=view.query("cursor") or None,
    )
    active = {k: v for k, v in filters.items() if v}
    more = f"?{urlencode({**active, 'cursor': files.next_cursor})}" if files.next_cursor else None
    return {"files": files.items, "more": more, "terminal": TERMINAL}


@page("/")
def library(view: View) -> Response:
    filters = _filters(view)
    return view.render(
        "library.html",
        filters=filters,
        statuses=STATUSES,
        tags=TagRepository(view.conn).list_with_counts(view.actor),
        collections=CollectionRepository(view.conn).list(view.actor),
        **_page(view, filters),
    )


@page("/library/rows")
def library_rows(view: View) -> Response:
    """The next page of rows as an HTML fragment, for the "load more" button's script."""
    return view.render("_file_rows.html", **_page(view, _filters(view)))


@page("/upload")
def upload(view: View) -> Response:
    return view.render("upload.html", max_mb=view.services.settings.opentr_max_upload_mb)


ROUTES = [library, library_rows, upload]
