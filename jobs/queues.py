"""The project's RQ queues and the Redis connection they share."""

from __future__ import annotations

from functools import lru_cache

from redis import Redis
from rq import Queue

MEDIA, SUMMARIES, EMBEDDINGS = "media", "summaries", "embeddings"
# Every worker listens to all of them, in this order of priority (RQ takes the first queue with a job): embedding a
# transcript for search by meaning never delays a transcription or a summary someone waits for. Maintenance
# (recovery, dispatch) is no job: workers/maintenance.py.
ALL_QUEUES = (MEDIA, SUMMARIES, EMBEDDINGS)


@lru_cache(maxsize=8)
def redis_connection(url: str) -> Redis:
    return Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5, health_check_interval=30)


def queue(url: str, name: str) -> Queue:
    return Queue(name, connection=redis_connection(url))
