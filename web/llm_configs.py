"""Users' LLM configurations: CRUD, choosing the active one, and a live connection test.

The api key is write-only: it goes in with a create or an update and never comes back out; responses say only
whether there is one (`has_api_key`) and show a constant mask.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, cast
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from repo.crypto import DecryptionError
from repo.errors import Conflict
from repo.llm_configs import ConnectionTest, LlmConfig, LlmConfigRepository, Provider
from web.endpoint import Ctx, Router
from web.fields import NOT_BLANK, REAL_CHECK, REAL_GAP
from workers import llm_clients
from workers.llm_clients import LlmSettings

log = logging.getLogger("opentr.web")
router = Router("llm-configs")
TEST_TIMEOUT_SECONDS = 30.0
RECENT_TESTS = 10

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), NOT_BLANK]
ModelName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), NOT_BLANK]
# An http(s) URL an HTTP client can open: ASCII host labels of 1-63 characters (an international name in its
# xn-- form) or an IPv6 literal, a port up to 65535, then a path of visible ASCII. "" means the provider's default.
HOST_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
PORT = r"(?:6553[0-5]|655[0-2]\d|65[0-4]\d\d|6[0-4]\d{3}|[1-5]\d{4}|[1-9]\d{0,3})"
H16 = "[0-9A-Fa-f]{1,4}"
IPV6 = "|".join(  # the RFC 4291 text forms (no embedded IPv4, no zone): what a client can open
    [
        rf"(?:{H16}:){{7}}{H16}",
        rf"(?:{H16}:){{1,7}}:",
        *(rf"(?:{H16}:){{1,{6 - n}}}(?::{H16}){{1,{n + 1}}}" for n in range(6)),
        rf":(?:(?::{H16}){{1,7}}|:)",
    ]
)
URL = rf"https?://(?:{HOST_LABEL}(?:\.{HOST_LABEL})*\.?|\[(?:{IPV6})\])(?::{PORT})?(?:/[\x21-\x7e]*)?"
BaseUrl = Annotated[str, StringConstraints(max_length=2000, pattern=rf"^(?:{URL})?$")]
# Sent as an HTTP header value: visible ASCII only (a pasted key with a stray space or newline is refused).
ApiKey = Annotated[str, StringConstraints(max_length=4000, pattern=r"^[\x21-\x7e]*$")]
MaxTokens = Annotated[int, Field(ge=1, le=1_000_000)]
Temperature = Annotated[float, Field(ge=0, le=2, allow_inf_nan=False), REAL_GAP, REAL_CHECK]


class LlmConfigIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    provider: Provider
    model_name: ModelName
    base_url: BaseUrl | None = Field(default=None, description="the server's address; empty: the provider's default")
    api_key: ApiKey | None = Field(default=None, description="write-only: stored encrypted, never shown again")
    max_tokens: MaxTokens = 4096
    temperature: Temperature = 0.3


class LlmConfigUpdateIn(BaseModel):
    """Absent or null fields stay as they are; "" removes the base url or the api key."""

    model_config = ConfigDict(extra="forbid")
    name: Name | None = None
    provider: Provider | None = None
    model_name: ModelName | None = None
    base_url: BaseUrl | None = None
    api_key: ApiKey | None = None
    max_tokens: MaxTokens | None = None
    temperature: Temperature | None = None


class LlmConfigOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    uuid: UUID
    name: str
    provider: str
    model_name: str
    base_url: str | None
    has_api_key: bool
    api_key_mask: str | None
    max_tokens: int
    temperature: float
    is_active: bool
    created_at: datetime
    updated_at: datetime


class ConnectionTestOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    tested_at: datetime
    ok: bool
    latency_ms: int | None
    message: str | None


class LlmConfigDetailOut(LlmConfigOut):
    recent_tests: list[ConnectionTestOut] = Field(description="the latest connection tests, newest first")


class TestResultOut(BaseModel):
    ok: bool
    latency_ms: int
    message: str


def _repository(ctx: Ctx) -> LlmConfigRepository:
    return LlmConfigRepository(ctx.conn, ctx.services.master_key)


def _detail(config: LlmConfig, tests: list[ConnectionTest]) -> LlmConfigDetailOut:
    out = LlmConfigOut.model_validate(config)
    return LlmConfigDetailOut(**out.model_dump(), recent_tests=[ConnectionTestOut.model_validate(t) for t in tests])


@router.get("/api/llm-configs", response=list[LlmConfigOut])
def list_configs(ctx: Ctx) -> list[LlmConfig]:
    """Your LLM configurations."""
    return _repository(ctx).list(ctx.actor)


@router.post("/api/llm-configs", body=LlmConfigIn, response=LlmConfigOut, status=201)
def create_config(ctx: Ctx, body: LlmConfigIn) -> LlmConfig:
    """Add an LLM configuration (the api key is stored encrypted)."""
    return _repository(ctx).create(
        ctx.actor,
        body.name,
        body.provider,
        body.model_name,
        base_url=body.base_url or None,
        api_key=body.api_key or None,
        max_tokens=body.max_tokens,
        temperature=body.temperature,
    )


@router.get("/api/llm-configs/{uuid}", response=LlmConfigDetailOut)
def get_config(ctx: Ctx) -> LlmConfigDetailOut:
    """One configuration, with its recent connection tests."""
    repository, uuid = _repository(ctx), ctx.uuid("uuid")
    return _detail(repository.get(ctx.actor, uuid), repository.tests_for(ctx.actor, uuid, limit=RECENT_TESTS))


@router.put("/api/llm-configs/{uuid}", body=LlmConfigUpdateIn, response=LlmConfigOut)
def update_config(ctx: Ctx, body: LlmConfigUpdateIn) -> LlmConfig:
    """Change a configuration; an api key given replaces the stored one, "" removes it."""
    return _repository(ctx).update(
        ctx.actor,
        ctx.uuid("uuid"),
        name=body.name,
        provider=body.provider,
        model_name=body.model_name,
        base_url=body.base_url,
        api_key=body.api_key,
        max_tokens=body.max_tokens,
        temperature=body.temperature,
    )


@router.delete("/api/llm-configs/{uuid}", status=204)
def delete_config(ctx: Ctx) -> None:
    """Delete a configuration (and its test history)."""
    _repository(ctx).delete(ctx.actor, ctx.uuid("uuid"))


@router.post("/api/llm-configs/{uuid}/activate", response=LlmConfigOut)
def activate_config(ctx: Ctx) -> LlmConfig:
    """Use this configuration for your summaries (the others become inactive)."""
    return _repository(ctx).activate(ctx.actor, ctx.uuid("uuid"))


@router.post("/api/llm-configs/{uuid}/test", response=TestResultOut, in_transaction=False)
def test_config(ctx: Ctx) -> TestResultOut:
    """Send a tiny prompt to the configured server and record how it went.

    No transaction is held while the server answers: one short transaction reads the configuration, another
    records the result.
    """
    uuid, actor, master_key = ctx.uuid("uuid"), ctx.actor, ctx.services.master_key
    with ctx.services.db.transaction() as conn:
        repository = LlmConfigRepository(conn, master_key)
        config = repository.get(actor, uuid)
        try:
            api_key = repository.api_key(actor, uuid)
        except DecryptionError:
            raise Conflict("the stored api key cannot be opened any more; enter it again", "api_key") from None
    settings = LlmSettings(
        provider=cast(llm_clients.Provider, config.provider),
        model_name=config.model_name,
        base_url=config.base_url,
        api_key=api_key,
        max_tokens=config.max_tokens,
        temperature=config.temperature,
        timeout_seconds=TEST_TIMEOUT_SECONDS,
    )
    try:
        ok, latency_ms, message = llm_clients.test_connection(settings)
    except Exception as exc:  # a configuration stored before today's rules (a bad url or key): a failed test
        log.info("connection test of llm config %s could not run: %r", uuid, exc)
        ok, latency_ms, message = False, 0, f"the configuration cannot be used: {type(exc).__name__}: {exc}"[:500]
    with ctx.services.db.transaction() as conn:
        LlmConfigRepository(conn, master_key).record_test(actor, uuid, ok, latency_ms, message)
    return TestResultOut(ok=ok, latency_ms=latency_ms, message=message)
