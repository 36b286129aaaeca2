"""Users' LLM configurations, their connection-test history, and the api keys sealed inside the repository.

The plaintext key never reaches SQL: it is sealed here (AES-GCM, per-user key, associated data bound to the row's
uuid) and only the ciphertext and the master key's version are bound as parameters. Rows handed out carry
`has_api_key` and a constant mask, never the key or its ciphertext; `api_key()` opens it for the worker.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal, get_args
from uuid import UUID, uuid4

from credentials import sealing
from repo import statements as s
from repo.database import Connection
from repo.errors import Conflict, Invalid, NotFound
from repo.rows import Actor, strip_white

Provider = Literal["openai", "anthropic", "ollama", "vllm", "openrouter", "custom"]
PROVIDERS: Final = frozenset(get_args(Provider))
API_KEY_MASK: Final = "••••"


@dataclass(frozen=True, slots=True)
class LlmConfig:
    id: int
    uuid: UUID
    user_id: int
    name: str
    provider: str
    model_name: str
    base_url: str | None
    has_api_key: bool
    max_tokens: int
    temperature: float
    context_tokens: int | None  # the model's context window as its owner states it (None: ask the server)
    is_active: bool
    created_at: datetime
    updated_at: datetime

    @property
    def api_key_mask(self) -> str | None:
        return API_KEY_MASK if self.has_api_key else None


@dataclass(frozen=True, slots=True)
class ConnectionTest:
    id: int
    tested_at: datetime
    ok: bool
    latency_ms: int | None
    message: str | None


@dataclass(frozen=True, slots=True)
class SealedKey:
    id: int
    uuid: UUID
    user_id: int
    api_key_encrypted: bytes | None
    api_key_version: int | None


@dataclass(frozen=True, slots=True)
class ConfigOwner:
    user_id: int


_create = s.one("llm_configs.create", LlmConfig)
_get = s.one("llm_configs.get", LlmConfig)
_get_by_id = s.one("llm_configs.get_by_id", LlmConfig)
_list_for_user = s.many("llm_configs.list_for_user", LlmConfig)
_update = s.one("llm_configs.update", LlmConfig)
_delete = s.rowcount("llm_configs.delete")
_lock_owner_configs = s.many("llm_configs.lock_owner_configs", ConfigOwner)
_deactivate_others = s.rowcount("llm_configs.deactivate_others")
_activate = s.one("llm_configs.activate", LlmConfig)
_active = s.one_or_none("llm_configs.active", LlmConfig)
_sealed_key = s.one("llm_configs.sealed_key", SealedKey)
_all_sealed_keys = s.many("llm_configs.all_sealed_keys", SealedKey)
_reseal_keys = s.rowcount("llm_configs.reseal_keys")
_record_test = s.one("llm_configs.record_test", ConnectionTest)
_tests_for = s.many("llm_configs.tests_for", ConnectionTest)


def associated_data(config_uuid: UUID) -> str:
    """What binds a sealed key to its row: a ciphertext moved to another row does not open."""
    return f"llm:{config_uuid}"


def _check_provider(provider: str | None) -> None:
    if provider is not None and provider not in PROVIDERS:
        raise Invalid(f"provider must be one of {', '.join(sorted(PROVIDERS))}", "provider")


def _name_conflict(exc: Conflict) -> Conflict:
    return Conflict("you already have a configuration with this name", "name") if exc.field != "uuid" else exc


def _open(master_key: bytes, row: SealedKey) -> str | None:
    if row.api_key_encrypted is None:
        return None
    if row.api_key_version != sealing.key_version(master_key):
        raise sealing.DecryptionError(
            f"the api key of configuration {row.uuid} was sealed under another master key "
            f"(version {row.api_key_version}); rotate the keys or restore the old master key"
        )
    return sealing.open_sealed(master_key, row.user_id, associated_data(row.uuid), row.api_key_encrypted)


class LlmConfigRepository:
    def __init__(self, conn: Connection, master_key: bytes) -> None:
        self.conn = conn
        self.master_key = master_key

    def _seal(self, user_id: int, config_uuid: UUID, api_key: str) -> bytes:
        return sealing.seal(self.master_key, user_id, associated_data(config_uuid), api_key)

    def create(
        self,
        actor: Actor,
        name: str,
        provider: str,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        max_tokens: int = 4096,
        temperature: float = 0.3,
        context_tokens: int | None = None,
    ) -> LlmConfig:
        _check_provider(provider)
        config_uuid = uuid4()
        sealed = self._seal(actor.id, config_uuid, api_key) if api_key else None
        try:
            return _create(
                self.conn,
                uuid=config_uuid,
                actor_id=actor.id,
                name=strip_white(name),
                provider=provider,
                model_name=strip_white(model_name),
                base_url=base_url or None,
                api_key_encrypted=sealed,
                api_key_version=sealing.key_version(self.master_key) if sealed else None,
                max_tokens=max_tokens,
                temperature=temperature,
                context_tokens=context_tokens,
            )
        except Conflict as exc:
            raise _name_conflict(exc) from exc

    def get(self, actor: Actor, uuid: UUID) -> LlmConfig:
        return _get(self.conn, uuid=uuid, actor_id=actor.id)

    def get_by_id(self, config_id: int) -> LlmConfig:
        """For the worker: the configuration a summary was queued with."""
        return _get_by_id(self.conn, id=config_id)

    def list(self, actor: Actor) -> builtins.list[LlmConfig]:
        return _list_for_user(self.conn, actor_id=actor.id)

    def update(
        self,
        actor: Actor,
        uuid: UUID,
        *,
        name: str | None = None,
        provider: str | None = None,
        model_name: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        context_tokens: int | None = None,
    ) -> LlmConfig:
        """None leaves a field unchanged; "" removes the base url or the api key, 0 the stated context window."""
        _check_provider(provider)
        with self.conn.transaction():
            sealed: bytes | None = None
            if api_key:
                owner = self.get(actor, uuid).user_id
                sealed = self._seal(owner, uuid, api_key)
            try:
                return _update(
                    self.conn,
                    uuid=uuid,
                    name=strip_white(name) if name is not None else None,
                    provider=provider,
                    model_name=strip_white(model_name) if model_name is not None else None,
                    base_url=base_url,
                    set_api_key=api_key is not None,
                    api_key_encrypted=sealed,
                    api_key_version=sealing.key_version(self.master_key) if sealed else None,
                    max_tokens=max_tokens,
                    temperature=temperature,
                    context_tokens=context_tokens,
                    actor_id=actor.id,
                )
            except Conflict as exc:
                raise _name_conflict(exc) from exc

    def delete(self, actor: Actor, uuid: UUID) -> None:
        if _delete(self.conn, uuid=uuid, actor_id=actor.id) == 0:
            raise NotFound("configuration not found")

    def activate(self, actor: Actor, uuid: UUID) -> LlmConfig:
        """Make this the owner's only active configuration.

        Two statements under a lock rather than one `SET is_active = (uuid = target)`: PostgreSQL checks a unique
        index row by row, so that single UPDATE fails whenever it reaches the new row before the old one.
        """
        with self.conn.transaction():
            locked = _lock_owner_configs(self.conn, uuid=uuid, actor_id=actor.id)
            if not locked:
                raise NotFound("configuration not found")
            owner = locked[0].user_id
            _deactivate_others(self.conn, user_id=owner, uuid=uuid)
            return _activate(self.conn, user_id=owner, uuid=uuid)

    def active(self, actor: Actor) -> LlmConfig | None:
        return _active(self.conn, actor_id=actor.id)

    def api_key(self, actor_or_user_id: Actor | int, uuid: UUID) -> str | None:
        """The plaintext key, for the worker that calls the provider; None when the configuration has none."""
        actor = actor_or_user_id if isinstance(actor_or_user_id, Actor) else Actor(actor_or_user_id)
        return _open(self.master_key, _sealed_key(self.conn, uuid=uuid, actor_id=actor.id))

    def record_test(
        self, actor: Actor, uuid: UUID, ok: bool, latency_ms: int | None, message: str | None
    ) -> ConnectionTest:
        return _record_test(self.conn, uuid=uuid, ok=ok, latency_ms=latency_ms, message=message, actor_id=actor.id)

    def tests_for(self, actor: Actor, uuid: UUID, limit: int = 20) -> builtins.list[ConnectionTest]:
        """Newest first; NotFound (not an empty list) when the configuration is not the actor's."""
        self.get(actor, uuid)
        return _tests_for(self.conn, uuid=uuid, limit=limit, actor_id=actor.id)


def rotate_keys(conn: Connection, old_master: bytes, new_master: bytes) -> int:
    """Re-seal every stored api key under `new_master`; returns how many were re-sealed.

    All or nothing, and safe to run again: keys already under the new master key are left alone, and a key that
    the old master key cannot open stops the whole rotation with DecryptionError.
    """
    new_version = sealing.key_version(new_master)
    ids: list[int] = []
    resealed: list[bytes] = []
    with conn.transaction():
        for row in _all_sealed_keys(conn):
            if row.api_key_version == new_version:
                continue
            plaintext = _open(old_master, row)
            assert plaintext is not None
            ids.append(row.id)
            resealed.append(sealing.seal(new_master, row.user_id, associated_data(row.uuid), plaintext))
        if not ids:
            return 0
        return _reseal_keys(conn, ids=ids, sealed=resealed, api_key_version=new_version)
