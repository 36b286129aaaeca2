"""Public links in the browser: the page a link opens (`/p/{token}`, with its media and exports), and the file page's
forms by which the owner makes and revokes links.

The public pages take only the token (web/public_links.py says what they show, count and refuse). They are rendered
for nobody (no user in the header, no CSRF token, whoever is signed in), carry `X-Robots-Tag: noindex, nofollow` and
`Referrer-Policy: no-referrer` on every answer, the failures too, and have the robots meta tag in the page.

The owner's forms work without a script: making a link answers the file page itself with the new address, shown this
once (a redirect would lose it: only its hash is kept); a small script (links.js) copies it.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from repo.public_links import expiry
from web import public_links
from web.endpoint import Endpoint
from web.ui import media
from web.ui.render import HtmlRenderer, View, html, page

EXPORT_LABELS = {
    "txt": "Plain text",
    "json": "JSON",
    "csv": "Spreadsheet (CSV)",
    "srt": "Subtitles (SRT)",
    "vtt": "Subtitles (WebVTT)",
}
SPEAKER_COLOURS = media.SPEAKER_COLOURS


class PublicHtmlRenderer(HtmlRenderer):
    """Pages, with the public headers on the page and on every failure (404, 410, 429)."""

    def result(self, endpoint: Endpoint, result: Any) -> Response:
        return public_links.public_headers(super().result(endpoint, result))

    def error(self, request: Request, exc: Exception) -> Response:
        return public_links.public_headers(super().error(request, exc))


PUBLIC_HTML = PublicHtmlRenderer()


@page("/p/{token}", auth=False, in_transaction=False, renderer=PUBLIC_HTML)
def public_page(view: View) -> Response:
    """A public link's page: player, transcript, exports; one use counted."""
    shared = public_links.read_shared(view, count=True, use="page")
    names = list(dict.fromkeys(s.speaker_name for s in shared.segments if s.speaker_name))
    return html(
        view.request,
        "public.html",
        shared=shared,
        base=public_links.page_path(shared.token),
        colour={name: index % SPEAKER_COLOURS for index, name in enumerate(names)},
        formats=public_links.EXPORT_FORMATS,
        labels=EXPORT_LABELS,
    )


@page("/p/{token}/media", auth=False, in_transaction=False, renderer=PUBLIC_HTML)
def public_media(view: View) -> Response:
    """A public link's recording, with HTTP Range (not counted)."""
    return public_links.media(view)


@page("/p/{token}/export/{format}", auth=False, in_transaction=False, renderer=PUBLIC_HTML)
def public_export(view: View) -> Response:
    """A public link's transcript as a download (counted)."""
    return public_links.export(view, str(view.request.path_params.get("format", "")))


# --- the owner's forms on the file page -----------------------------------------------------------------------------


def _days(raw: str) -> int | None:
    """The form's choice of days; "" (never) is None; anything else is refused by `expiry`, naming the field."""
    raw = raw.strip()
    if not raw or raw == "never":
        return None
    return int(raw) if raw.isdigit() and len(raw) < 6 else -1


@page("/files/{uuid}/links", methods=("POST",))
def create_link(view: View) -> Response:
    """Make a public link; the file page comes back with its address, shown this once."""
    expires_at = expiry(days=_days(view.form.get("expires_in_days", "")))
    created = public_links.create(view, view.uuid("uuid"), expires_at)
    return media.file_page_with_link(view, public_links.link_url(view.request, created.token))


@page("/files/{uuid}/links/{link}/revoke", methods=("POST",))
def revoke_link(view: View) -> Response:
    public_links.revoke(view, view.uuid("uuid"), view.uuid("link"))
    return view.redirect(f"/files/{view.uuid('uuid')}#links")


ROUTES = [public_page, public_media, public_export, create_link, revoke_link]
