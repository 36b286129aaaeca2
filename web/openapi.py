"""The OpenAPI 3.1 document, generated from the endpoints' declarations (never written by hand).

Every status an operation can answer is derived from the same declarations that make the pipeline answer it
(web/pipeline.py): 401 where a token is required, 403 for administrators' routes, 404 and 422 where a path names a
resource, 400/413/415/422 where a JSON body is read, 422 for query parameters, 409 and 503 wherever the database is
used (a transaction that keeps colliding, an unavailable pool), plus the errors an endpoint declares it `raises`.
Request strings are documented without NUL characters, which the pipeline refuses (PostgreSQL text cannot hold them).

Links: a response field that names another resource but may be null (a task's `file_uuid`: a URL import's task has
no file yet) is linked explicitly to that resource's operations, one value at a time (a list's first item), so a
client following links gets a uuid or nothing. A tool that infers links from field names (Schemathesis) would
otherwise fan out over every item, nulls included, and call `PUT /api/files/None`; an explicit link to the same
operation and parameter takes the place of its guess.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import TypeAdapter

from web.endpoint import Endpoint
from web.errors import status_of

PATH_PARAM = re.compile(r"{(\w+)(?::\w+)?}")
NO_NUL = "^[^\\u0000]*$"
# Any JSON value whose strings (keys included) hold no NUL: what a free-form object of a request (a JSON Schema a
# prompt declares) may contain, since PostgreSQL's jsonb cannot hold NUL either.
JSON_WITHOUT_NUL = "JsonWithoutNul"
JSON_WITHOUT_NUL_REF = {"$ref": f"#/components/schemas/{JSON_WITHOUT_NUL}"}
JSON_WITHOUT_NUL_SCHEMA = {
    "anyOf": [
        {"type": "string", "pattern": NO_NUL},
        {"type": ["number", "boolean", "null"]},
        {"type": "array", "items": JSON_WITHOUT_NUL_REF},
        {"type": "object", "propertyNames": {"pattern": NO_NUL}, "additionalProperties": JSON_WITHOUT_NUL_REF},
    ]
}
ERROR_SCHEMA = {
    "type": "object",
    "properties": {"detail": {}, "field": {"type": ["string", "null"]}},
    "required": ["detail"],
}
STATUS_TEXT = {
    400: "the body is not well-formed JSON (or multipart data)",
    401: "missing, expired or revoked bearer token",
    403: "not allowed to you (administrators only, or a system resource)",
    404: "not found, or not yours",
    405: "method not allowed",
    409: "a conflict with the stored state, or concurrent changes collided: try again (Retry-After)",
    410: "gone: the public link expired or was revoked",
    413: "the body is too large",
    415: "the body is not of a supported media type",
    416: "the range is outside the file",
    422: "a value is invalid: `field` names it",
    429: "too many attempts: wait (Retry-After)",
    502: "a server this depends on (your LLM) answered with an error or with something unreadable",
    503: "the database, the job queue or the media storage is unavailable: try again shortly (Retry-After)",
    504: "a server this depends on (your LLM) did not answer in time",
    507: "the media storage is full: nothing was stored",
}
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "string"}}}
# A response field naming another resource by its uuid -> that resource's path (its operations take it as `uuid`).
REFERENCES = {
    "file_uuid": "/api/files/{uuid}",
    "speaker_uuid": "/api/speakers/{uuid}",
    "profile_uuid": "/api/speaker-profiles/{uuid}",
    "collection_uuid": "/api/collections/{uuid}",
}


# web/endpoint.py's Ctx.actor: every authenticated route understands it.
VIEW_ALL_PARAMETER: dict[str, Any] = {
    "name": "view",
    "in": "query",
    "required": False,
    "description": "`all`: an administrator's explicit all-files view (other users' files too; each use is "
    "recorded). Ignored for anyone else.",
    "schema": {"type": "string", "enum": ["all"]},
}


def _error(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": STATUS_TEXT[status],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if status in (409, 429, 503):
        response["headers"] = RETRY_AFTER
    return response


def error_statuses(endpoint: Endpoint) -> set[int]:
    """Every error status the pipeline and the handler of `endpoint` can answer."""
    statuses = {409, 503}  # every endpoint runs in a (retried) transaction on the pool
    if endpoint.auth:
        statuses |= {401, 422}  # 422: a `view` other than `all` (VIEW_ALL_PARAMETER)
    if endpoint.admin:
        statuses.add(403)
    if PATH_PARAM.search(endpoint.path):
        statuses |= {404, 422}
        if endpoint.auth and endpoint.method != "GET":
            statuses.add(403)  # seen but not allowed: a shared object below the rank the change needs (repo/access.py)
    if endpoint.query is not None:
        statuses.add(422)
    if endpoint.body is not None or endpoint.body_parser is not None:
        statuses |= {400, 413, 422}
    if endpoint.body is not None and endpoint.body_parser is None:
        statuses.add(415)  # the pipeline reads it as JSON
    statuses |= {status_of(kind) for kind in endpoint.raises}
    return statuses


def without_nul(schema: Any) -> Any:
    """Request strings carry no NUL: add the pattern to every free-form string (patterns already exclude it)."""
    if isinstance(schema, list):
        return [without_nul(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: without_nul(value) for key, value in schema.items()}
    if result.get("type") == "string" and not {"pattern", "format", "enum", "const"} & result.keys():
        result["pattern"] = NO_NUL
    if result.get("type") == "object" and result.get("additionalProperties") is True and "properties" not in result:
        result["propertyNames"] = {"pattern": NO_NUL}  # a free-form object: its keys and values without NUL too
        result["additionalProperties"] = JSON_WITHOUT_NUL_REF
    return result


def document(endpoints: list[Endpoint], title: str = "opentr", version: str = "0.1.0") -> dict[str, Any]:
    components: dict[str, Any] = {"Error": ERROR_SCHEMA, JSON_WITHOUT_NUL: JSON_WITHOUT_NUL_SCHEMA}

    def schema_of(kind: Any, mode: str) -> dict[str, Any]:
        schema = TypeAdapter(kind).json_schema(ref_template="#/components/schemas/{model}", mode=mode)  # type: ignore[arg-type]
        if mode == "validation":
            schema = without_nul(schema)
        components.update(schema.pop("$defs", {}))
        return schema

    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        if not endpoint.documented:
            continue
        path = PATH_PARAM.sub(r"{\1}", endpoint.path)
        parameters: list[dict[str, Any]] = [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": {"type": "string", "format": "uuid"}
                if name.endswith("uuid")
                else without_nul(endpoint.params.get(name, {"type": "string"})),
            }
            for name in PATH_PARAM.findall(endpoint.path)
        ]
        if endpoint.auth:
            parameters.append(VIEW_ALL_PARAMETER)
        if endpoint.query is not None:
            query = schema_of(endpoint.query, "validation")
            required = set(query.get("required", []))
            parameters += [
                {"name": name, "in": "query", "required": name in required, "schema": prop}
                for name, prop in query.get("properties", {}).items()
            ]
        operation: dict[str, Any] = {
            "tags": [endpoint.tag],
            "summary": endpoint.summary,
            "operationId": f"{endpoint.tag}_{endpoint.handler.__name__}",
            "parameters": parameters,
            "responses": {},
        }
        if endpoint.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": schema_of(endpoint.body, "validation")}},
            }
        ok = str(endpoint.status)
        declared = (endpoint.openapi or {}).get("responses", {})
        if endpoint.response is not None:
            operation["responses"][ok] = {
                "description": "success",
                "content": {"application/json": {"schema": schema_of(endpoint.response, "serialization")}},
            }
        elif not declared:
            operation["responses"][ok if endpoint.status != 200 else "204"] = {"description": "done"}
        for status in sorted(error_statuses(endpoint)):
            operation["responses"][str(status)] = _error(status)
        if endpoint.auth:
            operation["security"] = [{"bearer": []}]
        for key, value in (endpoint.openapi or {}).items():
            if key == "responses":  # a declared status adds to (or replaces parts of) the generated one
                for status, response in value.items():
                    operation["responses"][status] = {**operation["responses"].get(status, {}), **response}
            elif key == "parameters":  # headers (If-Match): beside the generated path and query parameters
                operation["parameters"] += value
            else:
                operation[key] = value
        paths.setdefault(path, {})[endpoint.method.lower()] = operation
    for item in paths.values():
        for operation in item.values():
            for status, response in operation["responses"].items():
                links = nullable_reference_links(response, paths, components)
                if links:
                    operation["responses"][status] = {**response, "links": links}
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {"schemas": components, "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }


def _nullable(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "null" or any(branch.get("type") == "null" for branch in schema.get("anyOf", []))


def nullable_pointers(schema: Any, field: str, components: dict[str, Any], depth: int = 0) -> list[str]:
    """JSON pointers to `field` wherever it may be null in `schema`, entering each array at its first item."""
    while isinstance(schema, dict) and "$ref" in schema:
        schema = components.get(schema["$ref"].rsplit("/", 1)[-1], {})
    if not isinstance(schema, dict) or depth > 3:
        return []
    if schema.get("type") == "array":
        return [f"/0{pointer}" for pointer in nullable_pointers(schema.get("items"), field, components, depth + 1)]
    found = []
    for name, prop in schema.get("properties", {}).items():
        if name == field and _nullable(prop):
            found.append(f"/{name}")
        elif name != field:
            found += [f"/{name}{pointer}" for pointer in nullable_pointers(prop, field, components, depth + 1)]
    return found


def nullable_reference_links(
    response: dict[str, Any], paths: dict[str, dict[str, Any]], components: dict[str, Any]
) -> dict[str, Any]:
    """The response's links from each nullable reference (REFERENCES) to every operation on what it names."""
    schema = response.get("content", {}).get("application/json", {}).get("schema")
    links: dict[str, Any] = {}
    for field, target in REFERENCES.items():
        for pointer in nullable_pointers(schema, field, components):
            for path, item in paths.items():
                if path != target and not path.startswith(f"{target}/"):
                    continue
                for operation in item.values():
                    name = f"{operation['operationId']}_by_{pointer.strip('/').replace('/', '_')}"
                    links[name] = {
                        "operationId": operation["operationId"],
                        "parameters": {"path.uuid": f"$response.body#{pointer}"},
                        "description": f"`{field}` names it, when it is not null",
                    }
    return links
