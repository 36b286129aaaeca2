"""Per-user settings: every known key with its stored value or its default; writes are validated per key."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, RootModel

from repo.errors import Invalid
from repo.user_settings import SETTINGS, SettingsRepository
from web.endpoint import Ctx, Router

router = Router("settings")
MAX_KEY_LENGTH = 100


class SettingsIn(RootModel[dict[str, Any]]):
    """Keys to change and their new values; all are validated before any is stored."""

    root: dict[str, Any] = Field(max_length=len(SETTINGS) * 2)


class SettingValueIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: Any = Field(description="the new value, of the key's type (null where the key allows it)")


class SettingOut(BaseModel):
    key: str
    value: Any


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
    return SettingsRepository(ctx.conn).set_many(ctx.actor, body.root)


@router.get("/api/settings/{key}", response=SettingOut)
def get_setting(ctx: Ctx) -> SettingOut:
    """One setting's value (its default when never set)."""
    key = _key(ctx)
    return SettingOut(key=key, value=SettingsRepository(ctx.conn).get(ctx.actor, key))


@router.put("/api/settings/{key}", body=SettingValueIn, response=SettingOut)
def put_setting(ctx: Ctx, body: SettingValueIn) -> SettingOut:
    """Change one setting."""
    key = _key(ctx)
    return SettingOut(key=key, value=SettingsRepository(ctx.conn).set(ctx.actor, key, body.value))


@router.delete("/api/settings/{key}", response=SettingOut)
def reset_setting(ctx: Ctx) -> SettingOut:
    """Reset one setting to its default; answers with the default."""
    key = _key(ctx)
    return SettingOut(key=key, value=SettingsRepository(ctx.conn).reset(ctx.actor, key))
