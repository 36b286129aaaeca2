"""Users' LLM configurations: CRUD, choosing the active one, and a live connection test.

The api key is write-only: it goes in with a create or an update and never comes back out; responses say only
whether there is one (`has_api_key`) and show a constant mask.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from credentials.sealing import DecryptionError
from llm import clients as llm_clients
from llm.clients import LlmError, LlmSettings
from outbound.addresses import BlockedUrl
from repo.errors import Conflict, Invalid, NotFound
from repo.llm_configs import ConnectionTest, LlmConfig, LlmConfigRepository, Provider
from web.audit_trail import audit
from web.endpoint import Ctx, Router
from web.fields import NOT_BLANK, REAL_CHECK, REAL_GAP, TRIMMED_NOT_BLANK, URL, worded
from web.services import Services

log = logging.getLogger("opentr.web")
router = Router("llm-configs")
TEST_TIMEOUT_SECONDS = 30.0
MODELS_TIMEOUT_SECONDS = 15.0
RECENT_TESTS = 10

Name = Annotated[str, StringConstraints(min_length=1, max_length=200), NOT_BLANK, TRIMMED_NOT_BLANK]
ModelName = Annotated[str, StringConstraints(min_length=1, max_length=200), NOT_BLANK, TRIMMED_NOT_BLANK]
# A server's address (web.fields.URL); "" means the provider's default.
BASE_URL = worded(rf"^(?:{URL})?$", "an http:// or https:// address like https://llm.example.com/v1, or empty")
BaseUrl = Annotated[str, StringConstraints(max_length=2000, pattern=BASE_URL)]
# Sent as an HTTP header value: visible ASCII only (a pasted key with a stray space or newline is refused).
API_KEY = worded(r"^[\x21-\x7e]*$", "letters, digits and ASCII punctuation only, without spaces or line breaks")
ApiKey = Annotated[str, StringConstraints(max_length=4000, pattern=API_KEY)]
MaxTokens = Annotated[int, Field(ge=1, le=1_000_000)]
Temperature = Annotated[float, Field(ge=0, le=2, allow_inf_nan=False), REAL_GAP, REAL_CHECK]
ContextTokens = Annotated[int, Field(ge=256, le=100_000_000)]
CONTEXT_TOKENS_HELP = (
    "the model's context window in tokens; absent: read from the server where it says, else the provider's default"
)


class LlmConfigIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    provider: Provider
    model_name: ModelName
    base_url: BaseUrl | None = Field(default=None, description="the server's address; empty: the provider's default")
    api_key: ApiKey | None = Field(default=None, description="write-only: stored encrypted, never shown again")
    max_tokens: MaxTokens = 4096
    temperature: Temperature = 0.3
    context_tokens: ContextTokens | None = Field(default=None, description=CONTEXT_TOKENS_HELP)


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
    context_tokens: Annotated[int, Field(ge=0, le=0)] | ContextTokens | None = Field(
        default=None, description=f"{CONTEXT_TOKENS_HELP}; 0: no longer stated"
    )


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
    context_tokens: int | None
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


class ProviderIn(BaseModel):
    """A server to ask before a configuration is saved; `llm_config_uuid` lends a saved one's api key."""

    model_config = ConfigDict(extra="forbid")
    provider: Provider
    base_url: BaseUrl | None = Field(default=None, description="the server's address; empty: the provider's default")
    api_key: ApiKey | None = Field(default=None, description="used for this request only, never stored")
    llm_config_uuid: UUID | None = Field(
        default=None, description="when api_key is absent: use the api key stored in this configuration of yours"
    )


class UnsavedTestIn(ProviderIn):
    model_name: ModelName
    max_tokens: MaxTokens = 4096
    temperature: Temperature = 0.3


class ModelsOut(BaseModel):
    ok: bool
    models: list[str] = Field(description="the model names the server offers, sorted")
    message: str


def _repository(ctx: Ctx) -> LlmConfigRepository:
    return LlmConfigRepository(ctx.conn, ctx.services.master_key)


def _detail(config: LlmConfig, tests: list[ConnectionTest]) -> LlmConfigDetailOut:
    out = LlmConfigOut.model_validate(config)
    return LlmConfigDetailOut(**out.model_dump(), recent_tests=[ConnectionTestOut.model_validate(t) for t in tests])


def _guard_base_url(services: Services, base_url: str | None) -> None:
    """With OPENTR_LLM_ALLOW_PRIVATE=0 a base_url on the server's own networks is refused (outbound/addresses.py)."""
    try:
        llm_clients.check_allowed(base_url, services.settings.llm_allowance)
    except BlockedUrl as exc:
        raise Invalid(f"base_url: {exc}", "base_url") from None


@router.get("/api/llm-configs", response=list[LlmConfigOut])
def list_configs(ctx: Ctx) -> list[LlmConfig]:
    """Your LLM configurations."""
    return _repository(ctx).list(ctx.actor)


@router.post("/api/llm-configs", body=LlmConfigIn, response=LlmConfigOut, status=201)
def create_config(ctx: Ctx, body: LlmConfigIn) -> LlmConfig:
    """Add an LLM configuration (the api key is stored encrypted)."""
    return create(ctx, body)


def _recorded(ctx: Ctx, action: str, config_uuid: UUID, **details: object) -> None:
    """An LLM configuration's change on the audit trail (never its api key: at most that it changed)."""
    audit(ctx, f"llm_config.{action}", object_type="llm_config", object_id=config_uuid, details=details)


def create(ctx: Ctx, body: LlmConfigIn) -> LlmConfig:
    """Store a new configuration (the JSON route and the settings page): its base_url guarded, its key sealed;
    recorded as `llm_config.create`."""
    _guard_base_url(ctx.services, body.base_url)
    created = LlmConfigRepository(ctx.conn, ctx.services.master_key).create(
        ctx.actor,
        body.name,
        body.provider,
        body.model_name,
        base_url=body.base_url or None,
        api_key=body.api_key or None,
        max_tokens=body.max_tokens,
        temperature=body.temperature,
        context_tokens=body.context_tokens,
    )
    _recorded(ctx, "create", created.uuid, name=body.name, provider=body.provider, model_name=body.model_name)
    return created


@router.get("/api/llm-configs/{uuid}", response=LlmConfigDetailOut)
def get_config(ctx: Ctx) -> LlmConfigDetailOut:
    """One configuration, with its recent connection tests."""
    repository, uuid = _repository(ctx), ctx.uuid("uuid")
    return _detail(repository.get(ctx.actor, uuid), repository.tests_for(ctx.actor, uuid, limit=RECENT_TESTS))


@router.put("/api/llm-configs/{uuid}", body=LlmConfigUpdateIn, response=LlmConfigOut)
def update_config(ctx: Ctx, body: LlmConfigUpdateIn) -> LlmConfig:
    """Change a configuration; an api key given replaces the stored one, "" removes it."""
    _guard_base_url(ctx.services, body.base_url)
    changed = sorted(k for k, v in body.model_dump(exclude={"api_key"}).items() if v is not None)
    _recorded(ctx, "update", ctx.uuid("uuid"), fields=changed, api_key_changed=body.api_key is not None)
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
        context_tokens=body.context_tokens,
    )


@router.delete("/api/llm-configs/{uuid}", status=204)
def delete_config(ctx: Ctx) -> None:
    """Delete a configuration (and its test history)."""
    delete(ctx, ctx.uuid("uuid"))


@router.post("/api/llm-configs/{uuid}/activate", response=LlmConfigOut)
def activate_config(ctx: Ctx) -> LlmConfig:
    """Use this configuration for your summaries (the others become inactive)."""
    return activate(ctx, ctx.uuid("uuid"))


def delete(ctx: Ctx, config_uuid: UUID) -> None:
    """Delete a configuration (the JSON route and the settings page), recorded as `llm_config.delete`."""
    _repository(ctx).delete(ctx.actor, config_uuid)
    _recorded(ctx, "delete", config_uuid)


def activate(ctx: Ctx, config_uuid: UUID) -> LlmConfig:
    """Make a configuration the active one (the JSON route and the settings page): `llm_config.activate`."""
    activated = _repository(ctx).activate(ctx.actor, config_uuid)
    _recorded(ctx, "activate", config_uuid, name=activated.name)
    return activated


def _stored(ctx: Ctx, uuid: UUID) -> tuple[LlmConfig, str | None]:
    """A configuration and its api key, read in one short transaction (no connection is held while a server
    answers)."""
    with ctx.services.db.transaction() as conn:
        repository = LlmConfigRepository(conn, ctx.services.master_key)
        config = repository.get(ctx.actor, uuid)
        try:
            return config, repository.api_key(ctx.actor, uuid)
        except DecryptionError:
            raise Conflict("the stored api key cannot be opened any more; enter it again", "api_key") from None


def _unsaved(ctx: Ctx, body: ProviderIn, timeout_seconds: float) -> LlmSettings:
    """The server a request names, with no model chosen yet."""
    api_key = body.api_key or None
    if body.llm_config_uuid is not None:  # checked even when unused: another user's uuid is always 409
        try:
            _, stored_key = _stored(ctx, body.llm_config_uuid)
        except NotFound:  # the body names it, not the path: a reference to nothing of yours
            raise Conflict("LLM configuration not found", "llm_config_uuid") from None
        api_key = api_key or stored_key
    return LlmSettings(
        provider=body.provider,
        model_name="",
        base_url=body.base_url or None,
        api_key=api_key,
        max_tokens=1,
        temperature=0.0,
        timeout_seconds=timeout_seconds,
    )


def _settings(config: LlmConfig, api_key: str | None, timeout_seconds: float) -> LlmSettings:
    return llm_clients.settings_of(config, api_key, timeout_seconds)


def _models(settings: LlmSettings) -> ModelsOut:
    try:
        models = llm_clients.list_models(settings)
    except LlmError as exc:
        return ModelsOut(ok=False, models=[], message=exc.message)
    return ModelsOut(ok=True, models=models, message=f"{len(models)} models")


@router.post("/api/llm-configs/{uuid}/test", response=TestResultOut, in_transaction=False)
def test_config(ctx: Ctx) -> TestResultOut:
    """Send a tiny prompt to the configured server and record how it went.

    No transaction is held while the server answers: one short transaction reads the configuration, another
    records the result.
    """
    uuid, actor, master_key = ctx.uuid("uuid"), ctx.actor, ctx.services.master_key
    config, api_key = _stored(ctx, uuid)
    try:
        ok, latency_ms, message = llm_clients.test_connection(_settings(config, api_key, TEST_TIMEOUT_SECONDS))
    except Exception as exc:  # a configuration stored before today's rules (a bad url or key): a failed test
        log.info("connection test of llm config %s could not run: %r", uuid, exc)
        ok, latency_ms, message = False, 0, f"the configuration cannot be used: {type(exc).__name__}: {exc}"[:500]
    with ctx.services.db.transaction() as conn:
        LlmConfigRepository(conn, master_key).record_test(actor, uuid, ok, latency_ms, message)
    return TestResultOut(ok=ok, latency_ms=latency_ms, message=message)


@router.post("/api/llm-configs/test", body=UnsavedTestIn, response=TestResultOut, in_transaction=False)
def test_unsaved(ctx: Ctx, body: UnsavedTestIn) -> TestResultOut:
    """Try a configuration before saving it: a tiny prompt, answered within TEST_TIMEOUT_SECONDS; nothing stored."""
    server = _unsaved(ctx, body, TEST_TIMEOUT_SECONDS)
    settings = replace(server, model_name=body.model_name, max_tokens=body.max_tokens, temperature=body.temperature)
    ok, latency_ms, message = llm_clients.test_connection(settings)
    return TestResultOut(ok=ok, latency_ms=latency_ms, message=message)


@router.post("/api/llm-configs/models", body=ProviderIn, response=ModelsOut, in_transaction=False)
def models_unsaved(ctx: Ctx, body: ProviderIn) -> ModelsOut:
    """The models a server offers, to pick one before saving a configuration (ok=false says why not)."""
    return _models(_unsaved(ctx, body, MODELS_TIMEOUT_SECONDS))


@router.get("/api/llm-configs/{uuid}/models", response=ModelsOut, in_transaction=False)
def models_saved(ctx: Ctx) -> ModelsOut:
    """The models the server of a saved configuration offers (ok=false says why not)."""
    config, api_key = _stored(ctx, ctx.uuid("uuid"))
    return _models(_settings(config, api_key, MODELS_TIMEOUT_SECONDS))
