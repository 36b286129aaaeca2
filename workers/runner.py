"""`opentr worker`: RQ's own forking worker on the project's queues, with recovery at start and every minute."""

from __future__ import annotations

import logging
import os

from rq import Queue, Worker

from repo.database import Database
from repo.settings import Settings
from workers.queues import ALL_QUEUES, MAINTENANCE, redis_connection
from workers.recovery import RECOVERY_JOB_ID, recover_stuck, recover_stuck_job

log = logging.getLogger("opentr.worker")


def run_worker(
    settings: Settings,
    database_url: str,
    redis_url: str,
    *,
    burst: bool = False,
    name: str | None = None,
    recovery: bool = True,
) -> bool:
    # Jobs run in forked work horses that build their own pool from the environment.
    os.environ["DATABASE_URL"], os.environ["REDIS_URL"] = database_url, redis_url
    connection = redis_connection(redis_url)
    if recovery:
        with Database(database_url, settings, application_name="opentr-recovery", min_size=0, max_size=1) as db:
            recover_stuck(db, connection, settings.opentr_recovery_stale_seconds)
        if not burst:
            Queue(MAINTENANCE, connection=connection).enqueue(
                recover_stuck_job, settings.opentr_recovery_stale_seconds, job_id=RECOVERY_JOB_ID, result_ttl=0
            )
    worker = Worker(list(ALL_QUEUES), connection=connection, name=name)
    return bool(worker.work(burst=burst, with_scheduler=not burst, logging_level="INFO"))
