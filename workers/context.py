"""What a job needs, created in the process that runs it (RQ forks a work horse per job: no pool crosses it)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from config.settings import ConfigError, Settings, get_settings
from repo.database import Database
from repo.statements import set_slow_query_ms
from storage.backend import Storage, open_storage


@dataclass(frozen=True)
class JobContext:
    settings: Settings
    db: Database
    database_url: str  # direct (never through a transaction pooler): job leases hold session advisory locks
    redis_url: str
    storage_dir: Path
    storage: Storage

    @property
    def master_key(self) -> bytes:
        return self.settings.secret_key()


_contexts: dict[int, JobContext] = {}


def job_context() -> JobContext:
    """This process's context; the worker command exports DATABASE_URL and REDIS_URL before forking."""
    pid = os.getpid()
    if pid not in _contexts:
        settings = get_settings()
        if not settings.database_url or not settings.redis_url:
            raise ConfigError("DATABASE_URL and REDIS_URL must be set for jobs (`opentr worker` sets them)")
        set_slow_query_ms(settings.db_slow_query_ms)
        db = Database(settings.database_url, settings, application_name="opentr-worker", min_size=0, max_size=2)
        _contexts[pid] = JobContext(
            settings, db, db.direct_url, settings.redis_url, settings.storage_dir, open_storage(settings)
        )
    return _contexts[pid]
