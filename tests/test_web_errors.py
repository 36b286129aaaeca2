"""Refusals in words (web/errors.py, web/fields.py): a value that misses a pattern is told what the field takes,
never the regular expression, on the API and on the pages; every pattern a request model checks has its words."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from tests.web import csrf_in, register, sign_up
from web.admin import UserUpdateIn
from web.api import all_endpoints
from web.auth import MeIn, RegisterIn
from web.fields import PATTERN_WORDS
from web.llm_configs import LlmConfigIn
from web.prompts import PromptIn


def checked_patterns(schema: Any) -> set[str]:
    """The patterns pydantic's validator checks, found in a model's core schema (a document-only pattern, such
    as one given in json_schema_extra, is not checked and not here)."""
    found: set[str] = set()
    if isinstance(schema, dict):
        if schema.get("type") == "str" and isinstance(schema.get("pattern"), str):
            found.add(schema["pattern"])
        for value in schema.values():
            found |= checked_patterns(value)
    elif isinstance(schema, list):
        for item in schema:
            found |= checked_patterns(item)
    return found


def request_models() -> set[type[BaseModel]]:
    models = {e.body for e in all_endpoints() if e.body} | {e.query for e in all_endpoints() if e.query}
    return models | {RegisterIn, MeIn, LlmConfigIn, PromptIn, UserUpdateIn}  # the pages validate these too


def test_every_pattern_a_request_model_checks_has_words() -> None:
    unworded = {
        (model.__name__, pattern)
        for model in request_models()
        for pattern in checked_patterns(model.__pydantic_core_schema__)
        if pattern not in PATTERN_WORDS
    }
    assert unworded == set()
    assert len({p for m in request_models() for p in checked_patterns(m.__pydantic_core_schema__)}) >= 6


@pytest.mark.parametrize(
    ("method", "path", "payload", "field", "words"),
    [
        ("GET", "/api/files?cursor=not%20a%20cursor!", None, "cursor", "not a cursor this server wrote"),
        ("GET", "/api/files?status=done", None, "status", "one or several of pending"),
        ("POST", "/api/files/from-url", {"url": "ftp://example.com/a.mp3"}, "url", "an http:// or https:// address"),
        ("PUT", "/api/users/me", {"email": "ann"}, "email", "an address needs one @ and a domain"),
        (
            "POST",
            "/api/llm-configs",
            {"name": "x", "provider": "custom", "model_name": "m", "base_url": "localhost:8080"},
            "base_url",
            "an http:// or https:// address",
        ),
        (
            "POST",
            "/api/llm-configs",
            {"name": "x", "provider": "openai", "model_name": "m", "api_key": "sk one two"},
            "api_key",
            "without spaces",
        ),
    ],
)
def test_the_api_says_what_a_field_takes(
    client: Any, method: str, path: str, payload: Any, field: str, words: str
) -> None:
    refused = client.request(method, path, headers=register(client), json=payload)
    assert refused.status_code == 422 and refused.json()["field"] == field
    detail = refused.json()["detail"]
    assert detail.startswith(f"{field}: ") and words in detail
    assert "pattern" not in detail and "^" not in detail and "\\" not in detail


def test_a_malformed_uuid_in_a_body_says_so_without_the_parsers_internals(client: Any) -> None:
    refused = client.post("/api/files/bulk", headers=register(client), json={"action": "delete", "file_uuids": ["x"]})
    assert refused.status_code == 422 and refused.json()["detail"] == "file_uuids.0: not a valid uuid"


def test_the_settings_page_says_what_an_address_takes(client: Any) -> None:
    token = sign_up(client)
    refused = client.post(
        "/settings/llm",
        data={"csrf": token, "name": "Local", "provider": "custom", "model_name": "m", "base_url": "localhost:1"},
    )
    assert refused.status_code == 422 and "Base url: an http:// or https:// address" in refused.text
    assert "pattern" not in refused.text
    signed_out = client.post("/signout", data={"csrf": csrf_in(refused.text)}, follow_redirects=False)
    assert signed_out.status_code == 303  # the error page's own sign-out form works
