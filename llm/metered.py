"""The one way a job sends requests to an LLM: each request checked against its requester's daily token limit
first, recorded with what it cost once answered, and given up the moment its requester asks to stop.

The checks and records are the caller's (`Meter`: the worker's writes them to the database, llm/ knows no
repositories). A request runs in a thread of its own while the calling thread asks `Meter.stop_requested` every
POLL_SECONDS, so a cancellation ends the job within about that time even while the server is still thinking; the
abandoned request ends by itself (its answer, if it comes, is dropped unrecorded: the server may still count it).
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Protocol

from llm import clients as llm_clients
from llm.clients import LlmAnswer, LlmSettings

POLL_SECONDS: Final = 0.25
Complete = Callable[[LlmSettings, str, str], LlmAnswer]


class LlmCancelled(Exception):
    """Its requester asked to stop."""


class Meter(Protocol):
    def before(self, system_prompt: str, user_prompt: str) -> None:
        """Raise to refuse the request (the daily limit leaves no room for it)."""

    def after(self, answer: LlmAnswer, system_prompt: str, user_prompt: str) -> None:
        """The request was answered: record what it cost."""

    def stop_requested(self) -> bool: ...


@dataclass
class MeteredLlm:
    """`settings` and the model's `context_tokens`; `answers` keeps what each request was told and answered."""

    settings: LlmSettings
    context_tokens: int
    meter: Meter
    complete: Complete = llm_clients.complete
    poll_seconds: float = POLL_SECONDS
    answers: list[tuple[str | None, str]] = field(default_factory=list)

    def ask(self, system_prompt: str, user_prompt: str, *, label: str | None = None) -> LlmAnswer:
        if self.meter.stop_requested():
            raise LlmCancelled("stopped at its requester's wish")
        self.meter.before(system_prompt, user_prompt)
        answer = self._answer(system_prompt, user_prompt)
        self.meter.after(answer, system_prompt, user_prompt)
        self.answers.append((label, answer.text))
        return answer

    def note(self, label: str) -> None:
        """Something done without a request, kept with the answers (a merge done locally)."""
        self.answers.append((label, ""))

    def raw_response(self) -> str:
        """Every answer, labelled; one unlabelled answer as it is."""
        if len(self.answers) == 1 and self.answers[0][0] is None:
            return self.answers[0][1]
        return "\n\n".join(f"--- {label or 'answer'} ---\n{text}".rstrip() for label, text in self.answers)

    def _answer(self, system_prompt: str, user_prompt: str) -> LlmAnswer:
        done: concurrent.futures.Future[LlmAnswer] = concurrent.futures.Future()

        def call() -> None:
            try:
                done.set_result(self.complete(self.settings, system_prompt, user_prompt))
            except BaseException as exc:  # handed to the caller, which re-raises it
                done.set_exception(exc)

        threading.Thread(target=call, name="llm-request", daemon=True).start()
        while True:
            try:
                return done.result(timeout=self.poll_seconds)
            except concurrent.futures.TimeoutError:
                if self.meter.stop_requested():
                    raise LlmCancelled("stopped at its requester's wish, during a request") from None
