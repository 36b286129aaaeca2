"""Optimistic concurrency for edits: a resource's version as a strong ETag (`"v3"`), If-Match read into the versions
a write may start from, and the 412 Precondition Failed answer that carries the current resource.

The comparison itself is never done here: the repository's UPDATE holds it (`... AND version = ANY(...)`), so two
concurrent writers that read the same version cannot both pass (the second one's UPDATE waits for the first one's
row lock, then sees the bumped version and matches nothing).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, TypeAdapter
from starlette.responses import Response

from repo.errors import Stale
from web.endpoint import Ctx

STALE_DETAIL = "changed since you read it: nothing was saved; `current` is what is stored now (send its ETag)"
# A version no row ever has (versions start at 1): what a malformed If-Match compares with, so that it matches
# nothing and is answered 412 with the current resource, as RFC 9110 §13.1.1 asks of a tag that does not match.
NO_VERSION = 0
_TAG = re.compile(r'^"v([1-9][0-9]{0,9})"$')


def etag(version: int) -> str:
    return f'"v{version}"'


def if_match(ctx: Ctx) -> list[int] | None:
    """The versions the request's If-Match allows: None for no header or `*` (any version: old clients keep their
    last-write-wins behaviour); otherwise the listed strong tags' versions, [NO_VERSION] when none is well-formed
    (weak tags never match under If-Match's strong comparison)."""
    header = ctx.request.headers.get("if-match")
    if header is None:
        return None
    tags = [part.strip() for part in header.split(",")]
    if "*" in tags:
        return None
    versions = [int(found.group(1)) for tag in tags if (found := _TAG.match(tag)) is not None]
    return [v for v in versions if v <= 2**31 - 1] or [NO_VERSION]


def with_etag(model: type[BaseModel], resource: Any, version: int, status: int = 200) -> Response:
    """`resource` serialized by `model`, with its version as the ETag."""
    body = model.model_validate(resource, from_attributes=True).model_dump_json()
    return Response(body, status_code=status, media_type="application/json", headers={"ETag": etag(version)})


def stale_response(model: type[BaseModel], exc: Stale) -> Response:
    """412: the write was refused; the body holds the stored resource so the client can show it."""
    current = TypeAdapter(model).dump_python(model.model_validate(exc.current, from_attributes=True), mode="json")
    body = TypeAdapter(dict[str, Any]).dump_json({"detail": exc.detail, "field": None, "current": current})
    return Response(body, status_code=412, media_type="application/json", headers={"ETag": etag(exc.version)})


def openapi(model: type[BaseModel]) -> dict[str, Any]:
    """The If-Match header and the 412 answer, for the operation whose resource `model` describes."""
    schema = TypeAdapter(model).json_schema(mode="serialization")
    assert "$defs" not in schema, f"{model.__name__}: a resource with nested models needs its schema as a component"
    return {
        "parameters": [
            {
                "name": "If-Match",
                "in": "header",
                "required": False,
                "description": 'the ETag you read (`"v3"`), or `*`: the write happens only if the resource is still '
                "at that version, else 412 and nothing changes; absent: the write happens whatever the version",
                "schema": {"type": "string"},
            }
        ],
        "responses": {
            "412": {
                "description": "changed since you read it (If-Match does not match): nothing was saved; `current` "
                "is the stored resource, its ETag the version to send",
                "headers": {"ETag": {"description": "the current version", "schema": {"type": "string"}}},
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "detail": {"type": "string"},
                                "field": {"type": "null"},
                                "current": schema,
                            },
                            "required": ["detail", "field", "current"],
                        }
                    }
                },
            }
        },
    }
