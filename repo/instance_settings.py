"""What an administrator sets for the whole instance (table `instance_settings`, migration 0018): a key, a JSON
value, who set it and when. A key never set reads as its default here, so a new setting needs no migration.

Anyone may read them (a sign-in asks whether two factors are required of everyone); only an administrator writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from repo import statements as s
from repo.database import Connection
from repo.errors import NotFound
from repo.rows import Actor

TWO_FACTOR_REQUIRED = "two_factor.required"
# Tokens (in + out) a person may spend on LLM requests per UTC day unless an administrator set their own (repo/
# llm_usage.py); None: no limit.
DAILY_TOKEN_LIMIT = "llm.daily_token_limit"
DEFAULTS: dict[str, Any] = {TWO_FACTOR_REQUIRED: False, DAILY_TOKEN_LIMIT: None}


@dataclass(frozen=True, slots=True)
class Setting:
    key: str
    value: Any
    updated_at: datetime
    updated_by: int | None


_get = s.one_or_none("instance_settings.get", Setting)
_all = s.many("instance_settings.all", Setting)
_put = s.execute("instance_settings.put")


class InstanceSettings:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get(self, key: str) -> Any:
        found = _get(self.conn, key=key)
        return found.value if found is not None else DEFAULTS[key]

    def all(self) -> dict[str, Any]:
        """Every known setting, the stored value or its default."""
        stored = {row.key: row.value for row in _all(self.conn)}
        return {key: stored.get(key, default) for key, default in DEFAULTS.items()}

    def put(self, actor: Actor, key: str, value: Any) -> None:
        if not actor.is_admin:
            raise NotFound("there is no such setting")
        _put(self.conn, key=key, value=Jsonb(value), updated_by=actor.id)

    def two_factor_required(self) -> bool:
        return bool(self.get(TWO_FACTOR_REQUIRED))
