"""Metered requests (llm/metered.py): checked before they are sent, recorded once answered, and given up when
their requester asks to stop, even while the server is still holding the request."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from llm.clients import LlmAnswer, LlmSettings
from llm.metered import LlmCancelled, MeteredLlm
from tests.llm_servers import LocalServer, Reply, Responder, in_turn, openai_answer, serving

pytestmark = pytest.mark.same_on_every_server  # reaches no server DATABASE_URL / REDIS_URL name (see conftest)


class Refused(Exception):
    pass


@dataclass
class FakeMeter:
    refuse: bool = False
    stop: threading.Event = field(default_factory=threading.Event)
    checked: list[tuple[str, str]] = field(default_factory=list)
    recorded: list[tuple[LlmAnswer, str, str]] = field(default_factory=list)

    def before(self, system_prompt: str, user_prompt: str) -> None:
        self.checked.append((system_prompt, user_prompt))
        if self.refuse:
            raise Refused("daily LLM token limit reached")

    def after(self, answer: LlmAnswer, system_prompt: str, user_prompt: str) -> None:
        self.recorded.append((answer, system_prompt, user_prompt))

    def stop_requested(self) -> bool:
        return self.stop.is_set()


@pytest.fixture
def serve() -> Iterator[Callable[[Responder], LocalServer]]:
    with serving() as start:
        yield start


def llm_of(server: LocalServer, meter: FakeMeter) -> MeteredLlm:
    settings = LlmSettings("custom", "stand-in", f"{server.url}/v1", None, 300, 0.0, 60, 1)
    return MeteredLlm(settings, 8192, meter)


def test_a_refused_request_is_never_sent(serve: Callable[[Responder], LocalServer]) -> None:
    server = serve(in_turn(Reply(body=openai_answer("never"))))
    meter = FakeMeter(refuse=True)
    with pytest.raises(Refused):
        llm_of(server, meter).ask("system", "Größe 予算 🎙️")
    assert meter.checked == [("system", "Größe 予算 🎙️")]
    assert server.requests == [] and meter.recorded == []


def test_an_answered_request_is_recorded_with_what_the_server_reported(
    serve: Callable[[Responder], LocalServer],
) -> None:
    server = serve(in_turn(Reply(body=openai_answer("مرحبا", prompt_tokens=40, completion_tokens=3))))
    meter = FakeMeter()
    llm = llm_of(server, meter)
    answer = llm.ask("system", "user", label="part 1")
    assert answer.text == "مرحبا" and len(server.requests) == 1
    [(recorded, system_prompt, user_prompt)] = meter.recorded
    assert (recorded.input_tokens, recorded.output_tokens, system_prompt, user_prompt) == (40, 3, "system", "user")
    assert llm.raw_response() == "--- part 1 ---\nمرحبا"  # noqa: RUF001


def test_stopping_before_a_request_sends_nothing(serve: Callable[[Responder], LocalServer]) -> None:
    server = serve(in_turn(Reply(body=openai_answer("never"))))
    meter = FakeMeter()
    meter.stop.set()
    with pytest.raises(LlmCancelled):
        llm_of(server, meter).ask("system", "user")
    assert server.requests == [] and meter.checked == []


def test_stopping_during_a_held_request_gives_it_up_while_the_server_still_holds_it(
    serve: Callable[[Responder], LocalServer],
) -> None:
    server = serve(in_turn(Reply(body=openai_answer("too late"), sleep=60)))
    meter = FakeMeter()
    llm = llm_of(server, meter)

    def stop_once_sent() -> None:
        while not server.requests:  # the stand-in has the request and holds it
            threading.Event().wait(0.01)
        meter.stop.set()

    threading.Thread(target=stop_once_sent, daemon=True).start()
    with pytest.raises(LlmCancelled, match="during a request"):
        llm.ask("system", "user")
    # given up while the stand-in was still holding it: its answer never came, nothing was recorded
    assert not server.released.is_set() and len(server.requests) == 1
    assert meter.recorded == [] and llm.answers == []
    server.released.set()
