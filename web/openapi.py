"""The OpenAPI 3.1 document, generated from the endpoints' pydantic models (never written by hand)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import TypeAdapter

from web.endpoint import Endpoint

PATH_PARAM = re.compile(r"{(\w+)(?::\w+)?}")
ERROR_SCHEMA = {
    "type": "object",
    "properties": {"detail": {}, "field": {"type": ["string", "null"]}},
    "required": ["detail"],
}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def document(endpoints: list[Endpoint], title: str = "opentr", version: str = "0.1.0") -> dict[str, Any]:
    components: dict[str, Any] = {"Error": ERROR_SCHEMA}

    def schema_of(kind: Any, mode: str) -> dict[str, Any]:
        schema = TypeAdapter(kind).json_schema(ref_template="#/components/schemas/{model}", mode=mode)  # type: ignore[arg-type]
        components.update(schema.pop("$defs", {}))
        return schema

    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        path = PATH_PARAM.sub(r"{\1}", endpoint.path)
        parameters: list[dict[str, Any]] = [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": {"type": "string", "format": "uuid"} if name.endswith("uuid") else {"type": "string"},
            }
            for name in PATH_PARAM.findall(endpoint.path)
        ]
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
        operation["responses"]["422"] = _error("a field is invalid")
        if endpoint.auth:
            operation["security"] = [{"bearer": []}]
            operation["responses"]["401"] = _error("missing or invalid token")
        if parameters and any(p["in"] == "path" for p in parameters):
            operation["responses"]["404"] = _error("not found, or not yours")
        if endpoint.admin:
            operation["responses"]["403"] = _error("administrators only")
        for key, value in (endpoint.openapi or {}).items():
            if key == "responses":
                operation["responses"].update(value)
            else:
                operation[key] = value
        paths.setdefault(path, {})[endpoint.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {"schemas": components, "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
