"""`opentr worker`: RQ's own forking worker on the project's queues."""

from __future__ import annotations

from rq import Worker

from workers.queues import ALL_QUEUES, redis_connection


def run_worker(redis_url: str, *, burst: bool = False, name: str | None = None) -> bool:
    connection = redis_connection(redis_url)
    worker = Worker(list(ALL_QUEUES), connection=connection, name=name)
    return bool(worker.work(burst=burst, with_scheduler=True, logging_level="INFO"))
