"""`embed_passages(file_id, task_id)`, the `embedding` kind (jobs/embeddings.py): the file's transcript cut into
passages (transcript/passages.py), embedded by the configured model (embeddings/models.py), and stored in place of
the file's passages in one transaction (repo/passages.py), run by the skeleton of workers/jobrun.py.

It acts for the file's owner (row-level security): it reads the segments that owner may read and writes passages of
that owner's file only. It is idempotent: a run again from its start replaces the passages whole, and a passage
whose text is unchanged keeps its stored vector (no model call), so the run after an edit of one segment embeds the
one or two passages that hold it. The model is loaded before anything is read: without it the task fails with the
one line that names `opentr models pull embedding`, and nothing else changes (the file stays completed, its old
passages stay, no notification, no retry: RQ counts the run as done, so nothing loops). The model is called outside
any transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from embeddings.encoder import EncoderError
from embeddings.models import EmbeddingModelMissing, load_encoder, model_name
from jobs.embeddings import EMBEDDING
from jobs.registry import ignoring_gone
from repo.database import Connection
from repo.errors import Conflict, DataError
from repo.passages import PassageRepository, ensure_vector_index
from repo.rows import Actor
from repo.tasks import TaskRepository
from transcript.passages import cut
from workers.jobrun import Failure, JobBody, JobRun, job_function

log = logging.getLogger("opentr.jobs.embedding")


@dataclass(frozen=True)
class EmbeddingJob:
    owner: Actor
    file_id: int


class EmbedPassages(JobBody[EmbeddingJob]):
    kind = EMBEDDING
    expected = {EmbeddingModelMissing: "model", EncoderError: "model", DataError: "data"}

    def claim(self, run: JobRun, conn: Connection) -> EmbeddingJob:
        """The file, as its owner sees it; Conflict when it is not completed (a transcription on its way queues its
        own embedding when it completes), NotFound when it is gone: the task ends cancelled, nothing is done."""
        passages = PassageRepository(conn)
        owner = Actor(passages.file_owner(run.subject_id))
        if passages.version(owner, run.subject_id).status != "completed":
            raise Conflict("the file is being processed; its completion queues its passages", "status")
        return EmbeddingJob(owner, run.subject_id)

    def work(self, run: JobRun, job: EmbeddingJob) -> None:
        settings = run.context.settings
        encoder = load_encoder(settings)  # first: without the model, nothing is read and nothing changes
        model = model_name(settings)
        with run.db.transaction() as conn:
            repo = PassageRepository(conn)
            source = repo.source(job.owner, job.file_id)
            stored = repo.reusable(job.owner, job.file_id, model)
        passages = cut(source.segments)
        missing = list(dict.fromkeys(p.text for p in passages if p.text not in stored))
        reused = sum(1 for p in passages if p.text in stored)
        if missing:
            made = encoder.passages(missing)
            stored.update(zip(missing, np.asarray(made, dtype=np.float32).tolist(), strict=True))
        if passages:
            with run.db.transaction() as conn:
                ensure_vector_index(conn, encoder.dimensions)  # a no-op once made, or without pgvector
        with run.db.transaction() as conn:
            written = PassageRepository(conn).replace(
                job.owner, job.file_id, model, source.version, passages, [stored[p.text] for p in passages]
            )
            with ignoring_gone():
                TaskRepository(conn).complete(run.task_id)
        log.info(
            "%s: file %s: %d passages (%d embedded, %d reused)%s",
            run.task_id,
            job.file_id,
            len(passages),
            len(passages) - reused,
            reused,
            "" if written else "; a newer transcript's passages were there already",
        )

    def fail(self, run: JobRun, job: EmbeddingJob, failure: Failure) -> None:
        """Only the task says so: the file, its transcript and its passages are as they were."""
        with run.db.transaction() as conn, ignoring_gone():
            TaskRepository(conn).fail(run.task_id, failure.message.splitlines()[0][:2000] if failure.message else "")


embed_passages = job_function(EmbedPassages())
