"""The OpenAPI document tells the truth: the statuses each operation can answer come from the same declarations
that make the pipeline answer them (Schemathesis checks the rest from outside: tests/test_schemathesis.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from web.api import all_endpoints
from web.errors import Unauthorized
from web.openapi import error_statuses, nullable_pointers


def test_every_operation_declares_the_statuses_its_pipeline_answers(client: Any) -> None:
    document = client.get("/api/openapi.json").json()
    operations = 0
    for endpoint in all_endpoints():
        if not endpoint.documented:
            continue
        operations += 1
        declared = set(document["paths"][endpoint.path][endpoint.method.lower()]["responses"])
        assert {"409", "503"} <= declared, endpoint.path  # a transaction that keeps colliding, no database
        assert ("401" in declared) == (endpoint.auth or Unauthorized in endpoint.raises), endpoint.path
        if endpoint.admin:
            assert "403" in declared, endpoint.path
        if "{" in endpoint.path:
            assert {"404", "422"} <= declared, endpoint.path
        if endpoint.body is not None and endpoint.body_parser is None:
            assert {"400", "413", "415", "422"} <= declared, endpoint.path
        assert {str(status) for status in error_statuses(endpoint)} <= declared
    assert operations == sum(len(methods) for methods in document["paths"].values())


def test_declared_raises_reach_the_document(client: Any) -> None:
    paths = client.get("/api/openapi.json").json()["paths"]
    assert {"401", "429"} <= set(paths["/api/auth/token"]["post"]["responses"])
    assert "403" in paths["/api/prompts/{uuid}"]["put"]["responses"]
    assert "404" in paths["/api/prompts/active"]["get"]["responses"]
    assert "415" in paths["/api/files"]["post"]["responses"]


def test_the_content_route_declares_every_media_type_it_serves(client: Any) -> None:
    content = client.get("/api/openapi.json").json()["paths"]["/api/files/{uuid}/content"]["get"]
    assert set(content["responses"]["200"]["content"]) == {"audio/*", "video/*", "application/octet-stream"}
    assert {"206", "416"} <= set(content["responses"])


def test_request_strings_carry_no_nul_in_the_document(client: Any) -> None:
    paths = client.get("/api/openapi.json").json()["paths"]
    body = paths["/api/collections"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    description = body["properties"]["description"]["anyOf"][0]
    assert description["type"] == "string" and description["pattern"] == "^[^\\u0000]*$"


def test_an_undeclared_method_is_405_with_the_exact_allow(client: Any) -> None:
    response = client.put("/api/prompts/active", json={})
    assert response.status_code == 405
    assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD"}
    patched = client.patch("/api/collections", json={})
    assert patched.status_code == 405 and set(patched.headers["allow"].split(", ")) == {"GET", "HEAD", "POST"}


def test_a_json_body_must_be_sent_as_json(client: Any) -> None:
    from tests.web import register

    response = client.post(
        "/api/collections", headers={**register(client), "content-type": "text/plain"}, content=b'{"name": "x"}'
    )
    assert response.status_code == 415 and response.json()["field"] == "body"


def test_stripped_names_are_documented_as_not_blank_and_tags_without_slash(client: Any) -> None:
    import re

    paths = client.get("/api/openapi.json").json()["paths"]
    schema = paths["/api/tags"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    pattern = re.compile(schema["properties"]["name"]["pattern"])
    assert [bool(pattern.search(v)) for v in ("weekly", " a ", " \u3000 ", "a/b", "a\x00")] == [
        True,
        True,
        False,
        False,
        False,
    ]
    from tests.web import register

    headers = register(client)
    for name, status in [(" \u3000 ", 422), ("a/b", 422), (" weekly ", 201)]:
        assert client.post("/api/tags", headers=headers, json={"name": name}).status_code == status, name


def _links(document: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(response, link) for every link of the document."""
    for item in document["paths"].values():
        for operation in item.values():
            for response in operation["responses"].values():
                for link in response.get("links", {}).values():
                    yield response, link


def test_a_tasks_file_uuid_is_linked_to_the_file_one_value_at_a_time(client: Any) -> None:
    """A URL import's task has no file (`file_uuid` null): the links from tasks to files read one value, which a
    client follows only when it is there, never every item of the list."""
    document = client.get("/api/openapi.json").json()
    from_tasks = document["paths"]["/api/tasks"]["get"]["responses"]["200"]["links"]
    to_put_file = [link for link in from_tasks.values() if link["operationId"] == "files_update_file"]
    assert [link["parameters"] for link in to_put_file] == [{"path.uuid": "$response.body#/items/0/file_uuid"}]
    operations = {op["operationId"]: path for path, item in document["paths"].items() for op in item.values()}
    for _, link in _links(document):  # each names a parameter its operation has (mostly {uuid}; a link's {token})
        target = operations[link["operationId"]]
        assert all(f"{{{name.removeprefix('path.')}}}" in target for name in link["parameters"]), link
        assert all("*" not in value for value in link["parameters"].values()), link


def test_links_inferred_by_schemathesis_never_fan_out_over_a_field_that_may_be_null(client: Any) -> None:
    """Schemathesis guesses links from field names and fans a list out over every item (`items/*/file_uuid`),
    so a task without a file became `PUT /api/files/None`. The document's own links take the place of those guesses
    for every field that may be null; guesses from fields that are never null stay."""
    import schemathesis
    from schemathesis.specs.openapi.stateful.dependencies import inject_links

    schema = schemathesis.openapi.from_dict(client.get("/api/openapi.json").json())
    inject_links(schema)
    components = schema.raw_schema["components"]["schemas"]
    fanned_out, kept = [], 0
    for response, link in _links(schema.raw_schema):
        body = response.get("content", {}).get("application/json", {}).get("schema")
        for value in link.get("parameters", {}).values():
            if not isinstance(value, str) or "/*/" not in value:
                continue
            pointer = value.split("#", 1)[1]
            if pointer.replace("*", "0") in nullable_pointers(body, pointer.rsplit("/", 1)[-1], components):
                fanned_out.append(value)
            else:
                kept += 1
    assert fanned_out == [] and kept > 0
