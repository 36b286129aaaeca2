"""What a web process holds for its lifetime: settings, the pool, Redis, the master key, storage."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError

from config.settings import Settings
from repo.database import Database
from storage.backend import Storage, open_storage
from web.errors import ServiceUnavailable


@dataclass
class Services:
    settings: Settings
    db: Database
    redis_url: str
    master_key: bytes
    storage_dir: Path
    redis: Redis = field(init=False)
    storage: Storage = field(init=False)

    def __post_init__(self) -> None:
        self.redis = Redis.from_url(self.redis_url, socket_timeout=2, socket_connect_timeout=2)
        self.storage = open_storage(self.settings)
        self.storage_dir.mkdir(parents=True, exist_ok=True)

    def require_redis(self) -> Redis:
        """Redis, or a 503 that says so: work that needs the queue must not start without it."""
        try:
            self.redis.ping()
        except RedisError as exc:
            raise ServiceUnavailable("the job queue (Redis) is unavailable; try again shortly") from exc
        return self.redis

    def redis_status(self) -> str:
        try:
            self.redis.ping()
            return "ok"
        except RedisError as exc:
            return f"unavailable: {type(exc).__name__}"
