"""Summaries in each shape end to end against a real OpenAI-style server on 127.0.0.1 (through a MeteredLlm with a
meter that allows everything), and the text helpers around them."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from llm import clients as llm_clients
from llm.chunking import TranscriptTooLong
from llm.clients import LlmAnswer, LlmError, LlmSettings
from llm.metered import MeteredLlm
from llm.structured import StructuredAnswerError
from tests.llm_servers import LocalServer, Received, Reply, Responder, in_turn, openai_answer
from workers import summarizer
from workers.summarizer import Shape, SpeakerStats, SummaryError

pytestmark = pytest.mark.same_on_every_server  # reaches no server DATABASE_URL / REDIS_URL name (see conftest)

TEMPLATE = """Answer with JSON like {"bluf": "...", "major_topics": ["..."]} and keep {placeholders} you do not know.

Speakers:
{speaker_data}

Transcript:
{transcript}
"""
GOOD = {
    "bluf": "The team ships on Friday.",
    "brief_summary": "A short planning meeting.",
    "major_topics": ["release"],
    "action_items": ["Alice writes the notes"],
    "key_decisions": ["Ship Friday"],
    "follow_up_items": [],
}


@pytest.fixture
def serve() -> Iterator[Callable[[Responder], LocalServer]]:
    servers: list[LocalServer] = []

    def start(responder: Responder) -> LocalServer:
        server = LocalServer(responder)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def settings_for(server: LocalServer, max_tokens: int = 200) -> LlmSettings:
    return LlmSettings("custom", "test-model", server.url, "key-123", max_tokens, 0.1, timeout_seconds=5)


def user_prompt(request: Received) -> str:
    content = request.json()["messages"][1]["content"]
    assert isinstance(content, str)
    return content


def quick(settings: LlmSettings, system_prompt: str, user_prompt: str) -> llm_clients.LlmAnswer:
    return llm_clients.complete(settings, system_prompt, user_prompt, backoff_seconds=0.01)


class Free:
    """A meter that allows every request and records nothing."""

    def before(self, system_prompt: str, user_prompt: str) -> None:
        pass

    def after(self, answer: LlmAnswer, system_prompt: str, user_prompt: str) -> None:
        pass

    def stop_requested(self) -> bool:
        return False


def metered(server: LocalServer, context_tokens: int = 8192, max_tokens: int = 200) -> MeteredLlm:
    return MeteredLlm(settings_for(server, max_tokens), context_tokens, Free(), complete=quick)


BLUF = Shape()


def meeting_lines(count: int) -> list[str]:
    segments = [
        (i * 7.5, "Alice" if i % 2 else "Bob", f"Line {i:03d} about the quarterly budget review.") for i in range(count)
    ]
    return summarizer.format_transcript(segments)


def test_build_prompt_fills_only_the_two_placeholders() -> None:
    prompt = summarizer.build_prompt(TEMPLATE, "[00:00:01] Bob: I said {speaker_data} aloud", "- Bob: 1 turn")
    assert '{"bluf": "...", "major_topics": ["..."]}' in prompt
    assert "{placeholders}" in prompt
    assert "Speakers:\n- Bob: 1 turn\n" in prompt
    assert "Transcript:\n[00:00:01] Bob: I said {speaker_data} aloud\n" in prompt  # inserted text is not re-filled


def test_build_prompt_appends_the_transcript_when_the_template_forgets_it() -> None:
    prompt = summarizer.build_prompt("Summarise as JSON {like this}.", "[00:00:00] A: hi", "")
    assert prompt == "Summarise as JSON {like this}.\n\nTranscript:\n[00:00:00] A: hi\n"


def test_format_transcript_lines() -> None:
    lines = summarizer.format_transcript(
        [(65.4, "Alice", " Hello   there\nall "), (3725, None, "Who am I?"), (4000, "Bob", "   ")]
    )
    assert lines == ["[00:01:05] Alice: Hello there all", "[01:02:05] Unknown speaker: Who am I?"]


def test_speaker_data_lists_the_most_talkative_first() -> None:
    text = summarizer.format_speaker_data([SpeakerStats("Bob", 60, 150, 4), SpeakerStats("Alice", 180, 420, 9)])
    assert text.splitlines() == [
        "- Alice: 00:03:00 talk time (75%), 420 words, 9 turns",
        "- Bob: 00:01:00 talk time (25%), 150 words, 4 turns",
    ]
    assert summarizer.format_speaker_data([]) == "(no speaker information)"


def test_a_bluf_answer_tolerates_fences_and_item_objects(serve: Callable[[Responder], LocalServer]) -> None:
    answer = {**GOOD, "action_items": [{"task": "Send the report", "owner": "Bob"}, "Call Ann"]}
    server = serve(in_turn(Reply(body=openai_answer("Sure!\n```json\n" + json.dumps(answer) + "\n```"))))
    lines = meeting_lines(5)
    result = summarizer.summarize(metered(server), BLUF, TEMPLATE, lines, "- Alice\n- Bob")
    assert result.bluf is not None and result.bluf.action_items == ["Send the report (owner: Bob)", "Call Ann"]
    assert result.raw_response.startswith("Sure!\n```json\n{")
    assert result.calls == 1 and result.processing_ms >= 0
    [request] = server.requests
    sent = user_prompt(request)
    assert "\n".join(lines) in sent and "- Alice\n- Bob" in sent and '{"bluf": "..."' in sent
    assert request.json()["messages"][0]["content"] == summarizer.SYSTEM_PROMPT


def test_the_language_and_the_schema_go_into_the_system_prompt() -> None:
    schema = {"type": "object", "properties": {"owner": {"type": "string"}}, "required": ["owner"]}
    json_prompt = summarizer.system_prompt(Shape("json", schema), "ja")
    assert json.dumps(schema) in json_prompt and "Write the summary in Japanese (language code ja)" in json_prompt
    markdown = summarizer.system_prompt(Shape("markdown"), "ar")
    assert "Markdown" in markdown and "Write the summary in Arabic (language code ar)." in markdown
    assert summarizer.system_prompt(BLUF, None) == summarizer.SYSTEM_PROMPT


def part_then_merge(part_reply: Callable[[int], Any], merge_reply: Callable[[str], str]) -> Responder:
    """Answers a part with part_reply(its number) and a merge request with merge_reply(its prompt)."""

    def respond(request: Received) -> Reply:
        prompt = user_prompt(request)
        part = re.search(r"This is part (\d+) of", prompt)
        if part:
            found = part_reply(int(part.group(1)))
            text = found if isinstance(found, str) else json.dumps(found)
        else:
            text = merge_reply(prompt)
        return Reply(body=openai_answer(text))

    return respond


def test_long_transcript_is_mapped_then_reduced(serve: Callable[[Responder], LocalServer]) -> None:
    def part(n: int) -> dict[str, Any]:
        return {"bluf": f"Part {n}.", "brief_summary": f"Summary {n}.", "major_topics": [f"topic {n}", "budget"]}

    def merge(prompt: str) -> str:
        parts = [json.loads(line) for line in prompt.splitlines() if line.startswith('{"bluf"')]
        topics = sorted({t for p in parts for t in p["major_topics"]})
        return json.dumps({"bluf": f"Merged {len(parts)} parts.", "brief_summary": "All.", "major_topics": topics})

    server = serve(part_then_merge(part, merge))
    lines = meeting_lines(300)
    result = summarizer.summarize(metered(server, 1500), BLUF, TEMPLATE, lines, "- Alice")
    parts = len(server.requests) - 1
    assert parts >= 3 and result.calls == parts + 1
    assert result.bluf is not None and result.bluf.bluf == f"Merged {parts} parts."
    assert result.bluf.major_topics == sorted(["budget", *(f"topic {n}" for n in range(1, parts + 1))])
    sent_lines = [line for r in server.requests[:parts] for line in user_prompt(r).splitlines() if line.startswith("[")]
    assert sent_lines == lines  # every line went to exactly one part, in order
    assert all(len(user_prompt(r)) <= (1500 - 200) * 4 for r in server.requests)
    assert "--- part 1 ---" in result.raw_response and "--- merge 1.1 ---" in result.raw_response


def test_many_long_partials_are_merged_in_rounds(serve: Callable[[Responder], LocalServer]) -> None:
    def part(n: int) -> dict[str, Any]:
        return {"bluf": f"Part {n}.", "brief_summary": f"Long story {n}. " * 150, "key_decisions": [f"decision {n}"]}

    def merge(prompt: str) -> str:
        parts = [json.loads(line) for line in prompt.splitlines() if line.startswith('{"bluf"')]
        decisions = [d for p in parts for d in p["key_decisions"]]
        return json.dumps({"bluf": "Merged.", "brief_summary": "Shorter. " * 150, "key_decisions": decisions})

    server = serve(part_then_merge(part, merge))
    result = summarizer.summarize(metered(server, 1500), BLUF, TEMPLATE, meeting_lines(300), "")
    parts = sum(1 for r in server.requests if "This is part" in user_prompt(r))
    assert result.calls - parts >= 2  # more than one merge request
    assert result.bluf is not None
    assert result.bluf.key_decisions == [f"decision {n}" for n in range(1, parts + 1)]


def test_a_schema_summary_is_merged_into_one_object_of_the_schema(serve: Callable[[Responder], LocalServer]) -> None:
    schema = {
        "type": "object",
        "properties": {"points": {"type": "array", "items": {"type": "string"}}},
        "required": ["points"],
    }

    def merge(prompt: str) -> str:
        parts = [json.loads(line) for line in prompt.splitlines() if line.startswith('{"points"')]
        return json.dumps({"points": [p for part in parts for p in part["points"]]})

    server = serve(part_then_merge(lambda n: {"points": [f"point {n} 日本語"]}, merge))
    result = summarizer.summarize(metered(server, 1500), Shape("json", schema), TEMPLATE, meeting_lines(300), "")
    parts = sum(1 for r in server.requests if "This is part" in user_prompt(r))
    assert parts >= 3 and result.content == {"points": [f"point {n} 日本語" for n in range(1, parts + 1)]}
    assert result.bluf is None and result.markdown is None


def test_a_markdown_summary_is_merged_into_one_markdown(serve: Callable[[Responder], LocalServer]) -> None:
    server = serve(part_then_merge(lambda n: f"## Part {n}\n- مرحبا 👋 {n}", lambda prompt: "# Whole\n" + prompt[-40:]))
    result = summarizer.summarize(metered(server, 1500), Shape("markdown"), TEMPLATE, meeting_lines(300), "")
    parts = sum(1 for r in server.requests if "This is part" in user_prompt(r))
    merge_prompt = user_prompt(server.requests[-1])
    assert all(f"## Part {n}\n- مرحبا 👋 {n}" in merge_prompt for n in range(1, parts + 1))
    assert result.markdown is not None and result.markdown.startswith("# Whole\n")


def test_a_merge_answered_badly_twice_fails_the_summary(serve: Callable[[Responder], LocalServer]) -> None:
    def part(n: int) -> dict[str, Any]:
        return {"bluf": f"Part {n}.", "brief_summary": f"Summary {n}."}

    server = serve(part_then_merge(part, lambda _prompt: "Sorry, I got confused."))
    with pytest.raises(
        StructuredAnswerError, match=r"merge 1\.1: the model answered with unusable JSON twice"
    ) as raised:
        summarizer.summarize(metered(server, 1500), BLUF, TEMPLATE, meeting_lines(300), "")
    assert "«Sorry, I got confused.»" in raised.value.message
    assert "--- merge 1.1 (repair) ---\nSorry, I got confused." in raised.value.raw_response


def test_a_bad_part_is_repaired_once_and_named_when_it_stays_bad(serve: Callable[[Responder], LocalServer]) -> None:
    def part(n: int) -> dict[str, Any]:
        return {"bluf": f"Part {n}."} if n == 2 else {"bluf": f"Part {n}.", "brief_summary": "S"}

    server = serve(part_then_merge(part, lambda _prompt: json.dumps(GOOD)))
    with pytest.raises(StructuredAnswerError, match=r"part 2: .*is missing 'brief_summary'"):
        summarizer.summarize(metered(server, 1500), BLUF, TEMPLATE, meeting_lines(300), "")
    repairs = [r for r in server.requests if "That answer cannot be used" in user_prompt(r)]
    assert len(repairs) == 1 and "This is part 2 of" in user_prompt(repairs[0])


def test_a_context_too_small_for_the_prompt_sends_nothing(serve: Callable[[Responder], LocalServer]) -> None:
    server = serve(in_turn(Reply(body=openai_answer(json.dumps(GOOD)))))
    with pytest.raises(TranscriptTooLong, match="leaves no room for the transcript"):
        summarizer.summarize(metered(server, 256, max_tokens=128), BLUF, TEMPLATE, meeting_lines(30), "")
    assert server.requests == []


def test_empty_transcript_is_refused_before_any_call() -> None:
    never = LlmSettings("custom", "m", "http://127.0.0.1:9", None, 100, 0.0)
    with pytest.raises(SummaryError, match="transcript is empty"):
        summarizer.summarize(MeteredLlm(never, 8192, Free()), BLUF, TEMPLATE, ["", "   "], "")


def test_llm_errors_pass_through(serve: Callable[[Responder], LocalServer]) -> None:
    server = serve(in_turn(Reply(401, {"error": "invalid key"})))
    with pytest.raises(LlmError, match="HTTP 401") as raised:
        summarizer.summarize(metered(server), BLUF, TEMPLATE, meeting_lines(3), "")
    assert raised.value.retryable is False
