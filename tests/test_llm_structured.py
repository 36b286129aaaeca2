"""JSON answers (llm/structured.py): found in what a model says, checked against a JSON Schema, asked once more
when unusable, then refused quoting the model; against a stand-in OpenAI-compatible server on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from llm.clients import LlmAnswer, LlmSettings
from llm.metered import MeteredLlm
from llm.structured import (
    REPAIR_PROMPT,
    AnswerInvalid,
    SchemaInvalid,
    StructuredAnswerError,
    ask_json,
    check_schema,
    parse_json,
    schema_validator,
)
from tests.llm_servers import LocalServer, Reply, Responder, in_turn, openai_answer, serving

pytestmark = pytest.mark.same_on_every_server  # reaches no server DATABASE_URL / REDIS_URL name (see conftest)

TOPICS: dict[str, Any] = {
    "type": "object",
    "required": ["topics"],
    "properties": {
        "topics": {
            "type": "array",
            "items": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}},
        }
    },
}


class Unmetered:
    """A Meter that allows everything and records nothing."""

    def before(self, system_prompt: str, user_prompt: str) -> None:
        pass

    def after(self, answer: LlmAnswer, system_prompt: str, user_prompt: str) -> None:
        pass

    def stop_requested(self) -> bool:
        return False


@pytest.fixture
def serve() -> Iterator[Callable[[Responder], LocalServer]]:
    with serving() as start:
        yield start


def llm_of(server: LocalServer) -> MeteredLlm:
    settings = LlmSettings("custom", "stand-in", f"{server.url}/v1", None, 300, 0.0, 5, 1)
    return MeteredLlm(settings, 8192, Unmetered())


def sent_prompts(server: LocalServer) -> list[str]:
    return [request.json()["messages"][1]["content"] for request in server.requests]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ('{"a": 1}', {"a": 1}),
        ('```json\n{"topics": ["Größe", "予算"]}\n```', {"topics": ["Größe", "予算"]}),
        ('Sure! Here is the JSON you asked for:\n{"a": {"b": [1, 2]}}\nHope it helps 🎉', {"a": {"b": [1, 2]}}),
        ('[{"name": "الميزانية"}, {"name": "travel"}]', [{"name": "الميزانية"}, {"name": "travel"}]),
        ('Use {curly braces} sparingly. {"ok": true}', {"ok": True}),
        ('The list [1, 2] then {"x": 0}', [1, 2]),
    ],
)
def test_the_first_json_object_or_array_is_found_after_fences_and_prose(text: str, found: Any) -> None:
    assert parse_json(text) == found


@pytest.mark.parametrize(
    ("text", "stop", "words"),
    [
        ("", None, "the answer is empty"),
        ("   \n", "length", "the answer is empty (the answer was cut off at max_tokens)"),
        ("I cannot help with that.", None, "contains no JSON object"),
        ('{"topics": ["a", "b"', "length", "no JSON object (the answer was cut off at max_tokens)"),
        ("just {broken and [broken", None, "contains no JSON object"),
    ],
)
def test_an_answer_without_json_says_why(text: str, stop: str | None, words: str) -> None:
    with pytest.raises(AnswerInvalid, match=words.replace("(", r"\(").replace(")", r"\)")):
        parse_json(text, stop)


def test_a_schema_validator_names_the_path_of_each_mistake() -> None:
    validate = schema_validator(TOPICS)
    assert validate({"topics": [{"name": "予算"}]}) == {"topics": [{"name": "予算"}]}
    with pytest.raises(AnswerInvalid) as refused:
        validate({"topics": [{"name": "ok"}, {"name": 7}, {}]})
    said = str(refused.value)
    assert "/topics/1/name: 7 is not of type 'string'" in said
    assert "/topics/2: 'name' is a required property" in said
    with pytest.raises(AnswerInvalid, match="the answer: 'topics' is a required property"):
        validate({})


@pytest.mark.parametrize(
    ("schema", "path"),
    [
        ([], ""),
        ({"type": "object", "properties": {"a": {"type": "strnig"}}}, "/properties/a/type"),
        ({"type": "object", "required": "name"}, "/required"),
        ({"type": "array"}, "/type"),
    ],
)
def test_a_schema_that_is_not_one_names_the_path_in_it(schema: Any, path: str) -> None:
    with pytest.raises(SchemaInvalid) as refused:
        check_schema(schema)
    assert refused.value.path == path and str(refused.value).startswith(f"{path or '/'}: ")


def test_a_schema_of_an_object_is_accepted() -> None:
    check_schema(TOPICS)
    check_schema({"properties": {"summary": {"type": "string"}}})


def test_a_valid_first_answer_is_one_request(serve: Callable[[Responder], LocalServer]) -> None:
    server = serve(in_turn(Reply(body=openai_answer('```json\n{"topics": [{"name": "予算"}]}\n```'))))
    found = ask_json(llm_of(server), "system", "Find the topics.", schema_validator(TOPICS), label="topics")
    assert found == {"topics": [{"name": "予算"}]} and len(server.requests) == 1


def test_an_invalid_answer_is_repaired_with_the_bad_answer_and_the_reason(
    serve: Callable[[Responder], LocalServer],
) -> None:
    bad = '{"topics": [{"title": "budget"}]}'
    server = serve(in_turn(Reply(body=openai_answer(bad)), Reply(body=openai_answer('{"topics": [{"name": "x"}]}'))))
    llm = llm_of(server)
    found = ask_json(llm, "system", "Find the topics. ما المواضيع؟", schema_validator(TOPICS), label="topics")
    assert found == {"topics": [{"name": "x"}]} and len(server.requests) == 2
    first, repair = sent_prompts(server)
    assert first == "Find the topics. ما المواضيع؟"
    assert repair.startswith("Find the topics. ما المواضيع؟\n\n---\nYou answered the request above with:")
    assert bad in repair and "/topics/0: 'name' is a required property" in repair
    assert repair.endswith("nothing before or after it.")
    assert [label for label, _ in llm.answers] == ["topics", "topics (repair)"]


def test_an_answer_without_json_is_repaired_too(serve: Callable[[Responder], LocalServer]) -> None:
    server = serve(
        in_turn(
            Reply(body=openai_answer("I think the topics are budget and travel.")),
            Reply(body=openai_answer('{"topics": []}')),
        )
    )
    assert ask_json(llm_of(server), "s", "task", schema_validator(TOPICS)) == {"topics": []}
    assert "contains no JSON object" in sent_prompts(server)[1]
    assert REPAIR_PROMPT.split("{task}")[1].split("{answer}")[0] in sent_prompts(server)[1]


def test_invalid_twice_fails_quoting_the_model_and_nothing_more_is_asked(
    serve: Callable[[Responder], LocalServer],
) -> None:
    server = serve(in_turn(Reply(body=openai_answer("No JSON today 🙃")), Reply(body=openai_answer('{"topics": 5}'))))
    llm = llm_of(server)
    with pytest.raises(StructuredAnswerError) as failed:
        ask_json(llm, "s", "task", schema_validator(TOPICS), label="topics")
    assert len(server.requests) == 2
    message = failed.value.message
    assert message.startswith("topics: the model answered with unusable JSON twice")
    assert "/topics: 5 is not of type 'array'" in message and '«{"topics": 5}»' in message
    assert "No JSON today 🙃" in failed.value.raw_response and '{"topics": 5}' in failed.value.raw_response


def test_a_long_bad_answer_is_quoted_cut_short(serve: Callable[[Responder], LocalServer]) -> None:
    server = serve(in_turn(Reply(body=openai_answer("blah " * 500))))
    with pytest.raises(StructuredAnswerError) as failed:
        ask_json(llm_of(server), "s", "task", schema_validator(TOPICS))
    quoted = failed.value.message.split("«", 1)[1]
    assert quoted.endswith("…»") and len(quoted) < 510
