"""The `retention` kind: one pass of the retention rules over the whole instance (workers/retention_job.py).

Maintenance (workers/maintenance.py) queues it every OPENTR_RETENTION_INTERVAL_SECONDS, at most one waiting or
running at a time (`queue_retention`); `opentr retention run` runs a pass at once, in its own process. Its subject
is the instance (subject id 0): a task needs a user, so runs are filed under the first active administrator
(an instance without one has no run queued; `opentr retention run` still works).

A pass commits each batch of deletions on its own and only ever deletes what is due at that moment, so a run that
died is not run again behind anybody's back: its task is closed, and the next interval's run does what is left.
"""

from __future__ import annotations

from redis import Redis

from jobs.queues import EMBEDDINGS
from jobs.registry import DeadJob, JobKind, Queued, Recovered, close_task, declare
from repo.database import Connection
from repo.retention import RETENTION_SUBJECT, RetentionRepository


def queue_retention(conn: Connection, interval_seconds: float) -> Queued | None:
    """A pending retention run in the caller's transaction (run as the system) unless one waits or runs, or one
    was queued less than `interval_seconds` ago; enqueue the returned job after the commit."""
    retention = RetentionRepository(conn)
    if not retention.run_wanted(RETENTION.name, interval_seconds):
        return None
    owner = retention.task_owner()
    if owner is None:
        return None
    return Queued(RETENTION, 0, RETENTION.create_task(conn, owner, None))


def enqueue_retention(redis: Redis, queued: Queued | None) -> bool:
    return queued is not None and queued.enqueue(redis)


def _recover(conn: Connection, dead: DeadJob) -> Recovered:
    # Each committed batch stands; the rest is the next interval's run's (nothing is half-deleted: a batch is one
    # transaction, and its stored objects go after its commit, removed again by `opentr cleanup` if a run died there).
    return close_task(conn, dead.task_id)


RETENTION = declare(
    JobKind(
        name="retention",
        queue=EMBEDDINGS,  # the last queue every worker takes: housekeeping never delays anyone's transcript
        function="workers.retention_job.run_retention",
        subject=RETENTION_SUBJECT,
        recover=_recover,
        progress="system",
        timeout_seconds=6 * 3600,
    )
)
