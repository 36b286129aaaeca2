"""HTTP Range for media kept in object storage: one byte range, streamed from a ranged GET of the object.

Players seek with `Range: bytes=a-b`, `bytes=a-` or `bytes=-n`; several ranges at once (multipart/byteranges)
are rare for media and answered with the whole object, which RFC 9110 allows.
"""

from __future__ import annotations

import re

from starlette.datastructures import Headers
from starlette.responses import Response, StreamingResponse

from storage.backend import Storage
from web import content_disposition

SINGLE_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _requested(header: str | None, size: int) -> tuple[int, int] | bool | None:
    """(start, end) inclusive; None for the whole object; False when unsatisfiable."""
    if not header:
        return None
    match = SINGLE_RANGE.match(header.replace(" ", ""))
    if match is None or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first == "":
        length = int(last)
        if length == 0:
            return False
        return max(size - length, 0), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        return False
    return start, end


def ranged_response(
    storage: Storage, key: str, size: int, media_type: str, filename: str, headers: Headers, head: bool = False
) -> Response:
    common = {
        "accept-ranges": "bytes",
        "content-disposition": content_disposition.header("inline", filename),
    }
    wanted = _requested(headers.get("range"), size)
    if wanted is False:
        return Response(status_code=416, headers={**common, "content-range": f"bytes */{size}"})
    start, end = wanted if isinstance(wanted, tuple) else (0, size - 1)
    status = 206 if isinstance(wanted, tuple) else 200
    out = {**common, "content-length": str(end - start + 1)}
    if status == 206:
        out["content-range"] = f"bytes {start}-{end}/{size}"
    if head or size == 0:
        return Response(status_code=status, headers=out, media_type=media_type)
    return StreamingResponse(
        storage.read_range(key, start, end), status_code=status, headers=out, media_type=media_type
    )
