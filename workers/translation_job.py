"""`translate_transcript(run_id, task_id)`, the `translation` kind (jobs/llm_runs.py).

Being written: until then a run of it fails saying so."""

from __future__ import annotations

from typing import Any

from jobs.llm_runs import TRANSLATION
from llm.metered import MeteredLlm
from repo.database import Connection
from repo.llm_runs import LlmRun
from workers.jobrun import JobFailed, job_function
from workers.llm_run import LlmRunBody, LlmWork, Progress


class _NotYet(LlmWork[None, None]):
    kind = TRANSLATION

    def prepare(self, conn: Connection, run: LlmRun) -> None:
        raise JobFailed("this kind of run is not available yet", "internal")

    def produce(self, llm: MeteredLlm, source: None, progress: Progress) -> None:
        raise AssertionError("unreachable")

    def store(self, conn: Connection, run: LlmRun, result: None) -> str:
        raise AssertionError("unreachable")


translate_transcript: Any = job_function(LlmRunBody(_NotYet()))
