"""The `embedding` kind: a file's transcript cut into passages and embedded for search by meaning, run by
workers/embed_job.py on a queue of its own (jobs/queues.py: after transcriptions and summaries).

It is queued where a transcript changes: in the transaction that completes a transcription (workers/process_media.py)
and in the one that edits a segment (web/transcripts.py), and by `opentr embeddings rebuild` for every stale file
(another model, an older transcript). A file has at most one pending embedding task (`queue_embedding`): that task
has not read the transcript yet, so every edit committed before it starts is in what it embeds.

A run is idempotent (it replaces the file's passages whole, reusing the vectors of unchanged texts), so a dead run is
simply queued again, unless a pending task already waits for the file: nothing is lost or half-written, and nobody
would think of asking for it by hand. A file whose embedding killed its worker `MAX_DEAD_RUNS` times is given up on
(its passages stay as they were; `opentr embeddings status` lists it as stale), so it cannot kill workers forever.
A run of a second (the model missing, a short transcript) often ends between recovery's read of its task and its
lock: such a task has ended already, and recovery leaves it alone (`Outcome.FINISHED`).
"""

from __future__ import annotations

from redis import Redis

from jobs.queues import EMBEDDINGS
from jobs.registry import DEAD_OWNER, DeadJob, JobKind, Outcome, Queued, Recovered, declare, ignoring_gone
from repo.database import Connection
from repo.errors import Conflict
from repo.passages import PASSAGES_SUBJECT, PassageRepository
from repo.tasks import TaskRepository

MAX_DEAD_RUNS = 3


def queue_embedding(conn: Connection, file_id: int) -> Queued | None:
    """A pending embedding task for the file, in the caller's transaction (the file's owner's, whoever edited);
    enqueue the returned job after the commit. None when a pending one already waits for the file."""
    passages = PassageRepository(conn)
    if passages.pending_task(file_id, EMBEDDING.name) is not None:
        return None
    owner = passages.file_owner(file_id)
    return Queued(EMBEDDING, file_id, EMBEDDING.create_task(conn, owner, file_id))


def enqueue_embedding(redis: Redis, queued: Queued | None) -> bool:
    """After the commit of `queue_embedding`; False when there was nothing to enqueue or Redis refused (the
    dispatcher enqueues a pending task later)."""
    return queued is not None and queued.enqueue(redis)


def queue_stale(conn: Connection, model: str) -> tuple[list[Queued], int]:
    """An embedding task for every stale file (repo/passages.py: missing, another model, an older transcript),
    in the caller's transaction: (the tasks to enqueue after the commit, how many files had one waiting already).
    Run as the system: it spans every user."""
    queued: list[Queued] = []
    stale = PassageRepository(conn).stale_files(model)
    for found in stale:
        made = queue_embedding(conn, found.file_id)
        if made is not None:
            queued.append(made)
    return queued, len(stale) - len(queued)


def _recover(conn: Connection, dead: DeadJob) -> Recovered:
    try:
        TaskRepository(conn).fail(dead.task_id, DEAD_OWNER)
    except Conflict:  # it ended after recovery read it in progress and before its lock was free: it was alive
        return Recovered(Outcome.FINISHED)
    closed = Recovered(Outcome.CLOSED)
    if dead.subject_id is None:
        return closed
    passages = PassageRepository(conn)
    if passages.dead_runs(dead.subject_id, EMBEDDING.name, DEAD_OWNER) >= MAX_DEAD_RUNS:
        return Recovered(Outcome.GIVEN_UP)
    with ignoring_gone():  # the file went with its task meanwhile: nothing to queue
        queued = queue_embedding(conn, dead.subject_id)
        return closed if queued is None else Recovered(Outcome.REQUEUED, queued)
    return closed


EMBEDDING = declare(
    JobKind(
        name="embedding",
        queue=EMBEDDINGS,
        function="workers.embed_job.embed_passages",
        subject=PASSAGES_SUBJECT,
        recover=_recover,
        progress="transcription",  # part of making a transcript searchable; its outcome is no notification
        timeout_seconds=3600,
    )
)
