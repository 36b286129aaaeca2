"""Per-user settings: every known key with its stored value or its default; writes are validated per key.

Each known key has routes of its own (`/api/settings/ui.theme` ...), so the document gives each its exact value
type; the `{key}` routes behind them answer unknown keys (422 naming the key) and are left out of the document.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, RootModel, create_model

from repo.errors import Conflict, Invalid, NotFound
from repo.prompts import PromptRepository
from repo.user_settings import SETTINGS, SettingsRepository
from web.audit_trail import audit
from web.endpoint import Ctx, Handler, Router

router = Router("settings")
PROMPT_SETTING = "summary.active_prompt"
MAX_KEY_LENGTH = 100


def _settings_schema(schema: dict[str, Any]) -> None:
    schema.clear()
    schema.update(
        type="object",
        properties={key: spec.adapter.json_schema() for key, spec in SETTINGS.items()},
        additionalProperties=False,
        description="keys to change and their new values; all are validated before any is stored",
    )


class SettingsIn(RootModel[dict[str, Any]]):
    """Keys to change and their new values; all are validated before any is stored."""

    model_config = ConfigDict(json_schema_extra=_settings_schema)
    root: dict[str, Any] = Field(max_length=len(SETTINGS) * 2)


class SettingValueIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: Any = Field(description="the new value, of the key's type (null where the key allows it)")


class SettingOut(BaseModel):
    key: str
    value: Any


def _check_references(ctx: Ctx, values: dict[str, Any]) -> None:
    """A setting that names a prompt must name one the user can see (409 naming the key, as for any body
    reference that resolves to nothing of yours): a stored uuid of someone else's prompt would be echoed back."""
    prompt = values.get(PROMPT_SETTING)
    if prompt is None:
        return
    try:
        PromptRepository(ctx.conn).get(ctx.actor, UUID(str(prompt)))
    except (NotFound, ValueError):
        raise Conflict("no such prompt of yours (or system prompt)", PROMPT_SETTING) from None


def _key(ctx: Ctx) -> str:
    key = str(ctx.request.path_params.get("key", ""))
    if len(key) > MAX_KEY_LENGTH:
        raise Invalid(f"key: longer than {MAX_KEY_LENGTH} characters", "key")
    return key


@router.get("/api/settings", response=dict[str, Any])
def get_settings(ctx: Ctx) -> dict[str, Any]:
    """Every setting: the stored value, or the default for keys never set."""
    return SettingsRepository(ctx.conn).get_all(ctx.actor)


@router.put("/api/settings", body=SettingsIn, response=dict[str, Any])
def put_settings(ctx: Ctx, body: SettingsIn) -> dict[str, Any]:
    """Change several settings at once (all or nothing); answers with every setting."""
    return change(ctx, body.root)


def change(ctx: Ctx, values: dict[str, Any]) -> dict[str, Any]:
    """Change the caller's settings (the JSON routes and the settings page's forms), recorded as `settings.update`
    with the keys and values given."""
    _check_references(ctx, values)
    stored = SettingsRepository(ctx.conn).set_many(ctx.actor, values)
    _recorded(ctx, values)
    return stored


def _recorded(ctx: Ctx, values: dict[str, Any], *, reset: bool = False) -> None:
    details: dict[str, Any] = {"keys": sorted(values), "values": values}
    if reset:
        details["reset"] = True
    audit(ctx, "settings.update", object_type="settings", details=details)


def _routes_of(key: str) -> None:
    """GET, PUT and DELETE on `/api/settings/<key>`, the PUT body typed as the key's value."""
    spec, name = SETTINGS[key], key.replace(".", "_")
    value_in = create_model(
        f"Setting_{name}",
        __config__=ConfigDict(extra="forbid"),
        # Any here: the repository validates the value strictly and names the key; the schema shows its type.
        value=(Any, Field(json_schema_extra=spec.adapter.json_schema())),
    )

    def read(ctx: Ctx) -> SettingOut:
        return SettingOut(key=key, value=SettingsRepository(ctx.conn).get(ctx.actor, key))

    def write(ctx: Ctx, body: BaseModel) -> SettingOut:
        return change_one(ctx, key, body.value)  # type: ignore[attr-defined]

    def reset(ctx: Ctx) -> SettingOut:
        return reset_one(ctx, key)

    handlers: list[tuple[str, Handler, dict[str, Any]]] = [
        ("GET", read, {}),
        ("PUT", write, {"body": value_in}),
        ("DELETE", reset, {}),
    ]
    for method, handler, options in handlers:
        handler.__name__ = f"{handler.__name__}_{name}"
        summary = {"GET": "Read", "PUT": "Change", "DELETE": "Reset to its default"}[method]
        path = f"/api/settings/{key}"
        router.add(method, path, response=SettingOut, summary=f"{summary}: {spec.description}", **options)(handler)


for _key_name in SETTINGS:
    _routes_of(_key_name)


@router.get("/api/settings/{key}", response=SettingOut, documented=False)
def get_setting(ctx: Ctx) -> SettingOut:
    """One setting's value (its default when never set)."""
    key = _key(ctx)
    return SettingOut(key=key, value=SettingsRepository(ctx.conn).get(ctx.actor, key))


@router.put("/api/settings/{key}", body=SettingValueIn, response=SettingOut, documented=False)
def put_setting(ctx: Ctx, body: SettingValueIn) -> SettingOut:
    """Change one setting."""
    return change_one(ctx, _key(ctx), body.value)


@router.delete("/api/settings/{key}", response=SettingOut, documented=False)
def reset_setting(ctx: Ctx) -> SettingOut:
    """Reset one setting to its default; answers with the default."""
    return reset_one(ctx, _key(ctx))


def change_one(ctx: Ctx, key: str, value: Any) -> SettingOut:
    _check_references(ctx, {key: value})
    stored = SettingOut(key=key, value=SettingsRepository(ctx.conn).set(ctx.actor, key, value))
    _recorded(ctx, {key: stored.value})
    return stored


def reset_one(ctx: Ctx, key: str) -> SettingOut:
    stored = SettingOut(key=key, value=SettingsRepository(ctx.conn).reset(ctx.actor, key))
    _recorded(ctx, {key: stored.value}, reset=True)
    return stored
