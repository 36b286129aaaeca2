"""Headers every HTTP response carries, set in one place: around the whole application (web/app.py's App), outside
every other middleware and Starlette's own error handling, so no response escapes it: API JSON, errors, 404s and
405s, media content and its ranges, static files, pages, redirects, the OpenAPI document and the docs.

- `X-Content-Type-Options: nosniff`: a browser takes each body as the type it is declared, never as what it
  sniffs (an uploaded "audio" file that holds HTML is not run as a page).
- `Vary` names each header once: a route may say `Vary: Accept-Encoding` itself (the transcript, which it may
  send gzipped from its cache) and the gzip middleware adds the same name again.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

EVERY_RESPONSE = {"X-Content-Type-Options": "nosniff"}


def vary_once(values: list[str]) -> str:
    """The names of several Vary values, each once (first spelling kept), or `*` when any of them is `*`."""
    names: dict[str, str] = {}
    for value in values:
        for name in (part.strip() for part in value.split(",")):
            if name:
                names.setdefault(name.lower(), name)
    return "*" if "*" in names else ", ".join(names.values())


class ResponseHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.update(EVERY_RESPONSE)
                vary = headers.getlist("vary")
                if len(vary) > 1 or (vary and vary_once(vary) != vary[0]):
                    del headers["vary"]
                    headers["Vary"] = vary_once(vary)
            await send(message)

        await self.app(scope, receive, send_with_headers)
