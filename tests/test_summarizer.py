"""BLUF summaries end to end against a real OpenAI-style server on 127.0.0.1, and the text helpers around them."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from llm import clients as llm_clients
from llm.clients import LlmError, LlmSettings
from tests.llm_servers import LocalServer, Received, Reply, Responder, in_turn, openai_answer
from workers import summarizer
from workers.summarizer import Bluf, SpeakerStats, SummaryError, SummaryFormatError

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


def test_split_transcript_keeps_every_line_within_the_limit() -> None:
    lines = meeting_lines(100)
    chunks = summarizer.split_transcript("\n".join(lines), 1000)
    assert len(chunks) > 5
    assert all(len(chunk) <= 1000 for chunk in chunks)
    assert [line for chunk in chunks for line in chunk.split("\n")] == lines


def test_split_transcript_cuts_an_overlong_line_between_words() -> None:
    words = " ".join(f"word{i}" for i in range(100))
    chunks = summarizer.split_transcript(f"short line\n{words}", 120)
    assert all(len(chunk) <= 120 for chunk in chunks)
    assert " ".join(" ".join(chunks).split()) == f"short line {words}"


def test_parse_tolerates_fences_and_prose() -> None:
    raw = 'Sure! Here is the summary {as asked}:\n```json\n{"bluf": "B", "brief_summary": "S"}\n```\nAnything else?'
    bluf = summarizer.parse_summary(raw)
    assert bluf == Bluf(bluf="B", brief_summary="S")
    assert bluf.major_topics == bluf.action_items == bluf.key_decisions == bluf.follow_up_items == []


def test_parse_turns_item_objects_into_text() -> None:
    raw = json.dumps(
        {"bluf": "B", "brief_summary": "S", "action_items": [{"task": "Send the report", "owner": "Bob"}, "Call Ann"]}
    )
    assert summarizer.parse_summary(raw).action_items == ["Send the report (owner: Bob)", "Call Ann"]


def test_parse_explains_what_is_wrong() -> None:
    with pytest.raises(SummaryFormatError, match="no JSON object: I cannot summarise this") as raised:
        summarizer.parse_summary("I cannot summarise this.")
    assert raised.value.raw_response == "I cannot summarise this."
    with pytest.raises(SummaryFormatError, match="is missing 'bluf'"):
        summarizer.parse_summary('{"brief_summary": "S"}')
    with pytest.raises(SummaryFormatError, match="unusable 'major_topics'"):
        summarizer.parse_summary('{"bluf": "B", "brief_summary": "S", "major_topics": 42}')
    with pytest.raises(SummaryFormatError, match="cut off at max_tokens"):
        summarizer.parse_summary('{"bluf": "The team', stop_reason="length")


def test_short_transcript_is_one_call(serve: Callable[[Responder], LocalServer]) -> None:
    server = serve(in_turn(Reply(body=openai_answer("```json\n" + json.dumps(GOOD) + "\n```"))))
    lines = meeting_lines(5)
    result = summarizer.summarize(settings_for(server), TEMPLATE, lines, "- Alice\n- Bob", quick)
    assert result.bluf == Bluf.model_validate(GOOD)
    assert result.raw_response.startswith("```json\n{")
    assert (result.calls, result.input_tokens, result.output_tokens) == (1, 21, 5)
    assert result.processing_ms >= 0
    [request] = server.requests
    sent = user_prompt(request)
    assert "\n".join(lines) in sent and "- Alice\n- Bob" in sent and '{"bluf": "..."' in sent
    assert request.json()["messages"][0]["content"] == summarizer.SYSTEM_PROMPT


def part_then_merge(part_reply: Callable[[int], dict[str, Any]], merge_reply: Callable[[str], str]) -> Responder:
    """Answers a part with part_reply(its number) and a merge request with merge_reply(its prompt)."""

    def respond(request: Received) -> Reply:
        prompt = user_prompt(request)
        part = re.search(r"This is part (\d+) of", prompt)
        text = json.dumps(part_reply(int(part.group(1)))) if part else merge_reply(prompt)
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
    result = summarizer.summarize(settings_for(server), TEMPLATE, lines, "- Alice", quick, context_tokens=1500)
    parts = len(server.requests) - 1
    assert parts >= 3 and result.calls == parts + 1
    assert result.bluf.bluf == f"Merged {parts} parts."
    assert result.bluf.major_topics == sorted(["budget", *(f"topic {n}" for n in range(1, parts + 1))])
    assert (result.input_tokens, result.output_tokens) == (21 * result.calls, 5 * result.calls)
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
    result = summarizer.summarize(settings_for(server), TEMPLATE, meeting_lines(300), "", quick, context_tokens=1500)
    parts = sum(1 for r in server.requests if "This is part" in user_prompt(r))
    assert result.calls - parts >= 2  # more than one merge call
    assert result.bluf.key_decisions == [f"decision {n}" for n in range(1, parts + 1)]


def test_unparseable_merge_falls_back_to_merging_lists_here(serve: Callable[[Responder], LocalServer]) -> None:
    def part(n: int) -> dict[str, Any]:
        return {
            "bluf": f"Part {n}.",
            "brief_summary": f"Summary {n}.",
            "action_items": [f"task {n}", "Send minutes"],
            "follow_up_items": ["Check budget"] if n == 1 else ["check   BUDGET", f"follow {n}"],
        }

    server = serve(part_then_merge(part, lambda _prompt: "Sorry, I got confused."))
    result = summarizer.summarize(settings_for(server), TEMPLATE, meeting_lines(300), "", quick, context_tokens=1500)
    parts = len(server.requests) - 1
    assert result.bluf.bluf == " ".join(f"Part {n}." for n in range(1, parts + 1))
    assert result.bluf.action_items == ["task 1", "Send minutes", *(f"task {n}" for n in range(2, parts + 1))]
    assert result.bluf.follow_up_items == ["Check budget", *(f"follow {n}" for n in range(2, parts + 1))]
    assert "Sorry, I got confused." in result.raw_response
    assert "merged locally" in result.raw_response


def test_invalid_json_answer_is_a_format_error(serve: Callable[[Responder], LocalServer]) -> None:
    server = serve(in_turn(Reply(body=openai_answer('{"bluf": "B", "brief_summary": }'))))
    with pytest.raises(SummaryFormatError, match="no JSON object") as raised:
        summarizer.summarize(settings_for(server), TEMPLATE, meeting_lines(3), "", quick)
    assert raised.value.raw_response == '{"bluf": "B", "brief_summary": }'


def test_a_bad_part_names_the_part(serve: Callable[[Responder], LocalServer]) -> None:
    def part(n: int) -> dict[str, Any]:
        return {"bluf": f"Part {n}."} if n == 2 else {"bluf": f"Part {n}.", "brief_summary": "S"}

    server = serve(part_then_merge(part, lambda _prompt: json.dumps(GOOD)))
    with pytest.raises(SummaryFormatError, match="part 2: the answer's JSON is missing 'brief_summary'"):
        summarizer.summarize(settings_for(server), TEMPLATE, meeting_lines(300), "", quick, context_tokens=1500)


def test_empty_transcript_is_refused_before_any_call() -> None:
    never = LlmSettings("custom", "m", "http://127.0.0.1:9", None, 100, 0.0)
    with pytest.raises(SummaryError, match="transcript is empty"):
        summarizer.summarize(never, TEMPLATE, ["", "   "], "")


def test_llm_errors_pass_through(serve: Callable[[Responder], LocalServer]) -> None:
    server = serve(in_turn(Reply(401, {"error": "invalid key"})))
    with pytest.raises(LlmError, match="HTTP 401") as raised:
        summarizer.summarize(settings_for(server), TEMPLATE, meeting_lines(3), "", quick)
    assert raised.value.retryable is False
