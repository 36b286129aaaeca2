"""The library (the file list with filters, status badges, live progress, keyset "load more", bulk actions) and the
upload page.

The filters are the JSON API's (`GET /api/files`, web.files.FileListQuery) under the same names, so a library
address and an API query say the same thing; only durations are asked in minutes and dates as whole days, the way
a person thinks of them. Uploading, URL imports and bulk actions go to the JSON API from the pages' scripts.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from starlette.responses import Response

from asr import availability
from asr.languages import BY_NAME
from repo import library as library_repo
from repo.collections import CollectionRepository
from repo.errors import Invalid
from repo.file_access import AccessRepository
from repo.library import STATUSES
from repo.media_files import FileListRow, MediaFileRepository
from repo.prompts import PromptRepository
from transcript.choices import MAX_VOCABULARY_CHARS
from transcript.speakers import MAX_SPEAKERS
from web import choices
from web.files import FileListQuery
from web.ui.render import View, page

PAGE_SIZE = 25
TERMINAL = ("completed", "error", "cancelled", "orphaned")
SORTS = {"upload_time": "Upload time", "title": "Title", "duration": "Duration"}
# the form's single-valued fields, by their API names (tags is the only repeated one)
FIELDS = (
    "q",
    "status",
    "tag",
    "tags_mode",
    "collection",
    "speaker",
    "topic",
    "media_type",
    "transcript",
    "longer_than",
    "shorter_than",
    "uploaded_from",
    "uploaded_to",
    "sort",
    "order",
    "shared",
)
WHOSE = ("mine", "me")  # ?shared=: my own files, or those shared with me; anything else is all of them


def _filters(view: View) -> dict[str, Any]:
    """The form's values as the person typed them (unknown statuses and collections dropped, not refused)."""
    wanted: dict[str, Any] = {name: view.query(name) for name in FIELDS}
    wanted["status"] = ",".join(s for s in wanted["status"].split(",") if s in STATUSES)
    try:
        wanted["collection"] = str(UUID(wanted["collection"])) if wanted["collection"] else ""
    except ValueError:
        wanted["collection"] = ""
    wanted["tags"] = [t for t in view.request.query_params.getlist("tags") if t.strip()]
    wanted["shared"] = wanted["shared"] if wanted["shared"] in WHOSE else ""
    return wanted


def _minutes(raw: str, name: str) -> float | None:
    if not raw:
        return None
    try:
        value = float(raw) * 60
    except ValueError:
        raise Invalid(f"{name.replace('_', ' ')}: a number of minutes", name) from None
    return value


def _day(raw: str, name: str, shift: int = 0) -> str | None:
    if not raw:
        return None
    try:
        return (date.fromisoformat(raw) + timedelta(days=shift)).isoformat() + "T00:00:00Z"
    except ValueError:
        raise Invalid(f"{name.replace('_', ' ')}: a date like 2026-01-31", name) from None


def query_of(filters: dict[str, Any]) -> FileListQuery:
    """The API's query for the form's values; a bad value is a 422 page naming the field."""
    raw: dict[str, Any] = {
        name: filters[name]
        for name in (
            "q",
            "status",
            "tag",
            "collection",
            "speaker",
            "topic",
            "media_type",
            "transcript",
            "sort",
            "order",
            "shared",
        )
        if filters[name]
    }
    raw["tags"] = ",".join(filters["tags"]) or None
    raw["tags_mode"] = filters["tags_mode"] or "all"
    raw["duration_min"] = _minutes(filters["longer_than"], "longer_than")
    raw["duration_max"] = _minutes(filters["shorter_than"], "shorter_than")
    if (
        raw["duration_min"] is not None
        and raw["duration_max"] is not None
        and raw["duration_min"] > raw["duration_max"]
    ):
        raise Invalid("shorter than: more minutes than in longer than, please", "shorter_than")
    raw["uploaded_from"] = _day(filters["uploaded_from"], "uploaded_from")
    raw["uploaded_to"] = _day(filters["uploaded_to"], "uploaded_to", shift=1)  # the person's "to" includes the day
    return FileListQuery.model_validate({k: v for k, v in raw.items() if v is not None})


def _thumbnails(view: View, items: list[FileListRow]) -> set[UUID]:
    """The videos of this page that have a thumbnail (an <img> for one without would log a failed load)."""
    files = MediaFileRepository(view.conn)
    videos = [f.uuid for f in items if f.content_type.startswith("video/")]
    return {uuid for uuid in videos if files.get(view.actor, uuid).thumbnail_path is not None}


def _page(view: View, filters: dict[str, Any]) -> dict[str, Any]:
    query = query_of(filters)
    files = MediaFileRepository(view.conn).list_page(
        view.actor,
        filters=query.library_filter(),
        q=query.q,
        sort=query.sort,
        descending=None if query.order is None else query.order == "desc",
        limit=PAGE_SIZE,
        cursor=view.query("cursor") or None,
    )
    active = [(k, v) for k, v in filters.items() if v and k != "tags"] + [("tags", t) for t in filters["tags"]]
    more = f"?{urlencode([*active, ('cursor', files.next_cursor)])}" if files.next_cursor else None
    return {"files": files.items, "more": more, "terminal": TERMINAL, "thumbnails": _thumbnails(view, files.items)}


@page("/")
def library(view: View) -> Response:
    filters = _filters(view)
    return view.render(
        "library.html",
        filters=filters,
        filtered=any(v for k, v in filters.items() if k not in ("sort", "order", "tags_mode")),
        filtered_besides_shared=any(v for k, v in filters.items() if k not in ("sort", "order", "tags_mode", "shared")),
        statuses=STATUSES,
        sorts=SORTS,
        values=library_repo.filter_values(view.conn, view.actor),
        collections=CollectionRepository(view.conn).list(view.actor),
        owned_collections=AccessRepository(view.conn).owned_collections(view.actor),  # what bulk actions may add to
        **_page(view, filters),
    )


@page("/library/rows")
def library_rows(view: View) -> Response:
    """The next page of rows as an HTML fragment, for the "load more" button's script."""
    return view.render("_file_rows.html", **_page(view, _filters(view)))


@page("/upload")
def upload(view: View) -> Response:
    settings = view.services.settings
    return view.render(
        "upload.html",
        max_mb=settings.opentr_max_upload_mb,
        max_speakers=MAX_SPEAKERS,
        models=availability.model_choices(settings),
        languages=sorted(((code, name) for name, code in BY_NAME.items()), key=lambda pair: pair[1]),
        defaults=choices.defaults_for(view.conn, settings, view.actor),
        prompts=PromptRepository(view.conn).list(view.actor),
        max_vocabulary=MAX_VOCABULARY_CHARS,
        speech=availability.speech_status(settings),  # said before anyone uploads: can a recording be transcribed?
    )


ROUTES = [library, library_rows, upload]
