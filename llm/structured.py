"""Answers in JSON: found in what a model says (after code fences or prose), checked, and asked for once more.

`ask_json` sends a request and validates its answer with the caller's `validate` (a JSON Schema's, a pydantic
model's). An answer that is not JSON or does not validate gets one repair request: the same task, the model's own
answer and what was wrong with it. A second bad answer is `StructuredAnswerError`, which quotes the model (the job
fails with it, and nothing of it is stored but the quote).

`check_schema` tells whether a JSON Schema a person wrote is one (the API's 422 names the path in it).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final, TypeVar

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from jsonschema.exceptions import ValidationError as SchemaValidationError

from llm.metered import MeteredLlm

T = TypeVar("T")
CUT_OFF_REASONS: Final = frozenset({"length", "max_tokens"})
QUOTE_CHARS: Final = 500
REPAIR_PROMPT: Final = """{task}

---
You answered the request above with:

{answer}

That answer cannot be used: {problem}.
Answer the same request again with only the corrected JSON, nothing before or after it."""


class AnswerInvalid(Exception):
    """What is wrong with one answer (said to the model when asking it to repair, and to the user)."""


class StructuredAnswerError(Exception):
    def __init__(self, message: str, raw_response: str) -> None:
        super().__init__(message)
        self.message, self.raw_response = message, raw_response


class SchemaInvalid(ValueError):
    """`path`: where in the schema (JSON Pointer, "" for its root)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path or '/'}: {message}")
        self.path, self.message = path, message


def ask_json(
    llm: MeteredLlm, system_prompt: str, user_prompt: str, validate: Callable[[Any], T], *, label: str | None = None
) -> T:
    answer = llm.ask(system_prompt, user_prompt, label=label)
    try:
        return validate(parse_json(answer.text, answer.stop_reason))
    except AnswerInvalid as first:
        problem = str(first)
    repair = REPAIR_PROMPT.format(task=user_prompt, answer=answer.text.strip() or "(nothing)", problem=problem)
    again = llm.ask(system_prompt, repair, label=f"{label} (repair)" if label else "repair")
    try:
        return validate(parse_json(again.text, again.stop_reason))
    except AnswerInvalid as second:
        where = f"{label}: " if label else ""
        raise StructuredAnswerError(
            f"{where}the model answered with unusable JSON twice ({second}); its last answer: «{quote(again.text)}»",
            llm.raw_response(),
        ) from None


def parse_json(text: str, stop_reason: str | None = None) -> Any:
    """The first JSON object or array in `text`; AnswerInvalid says why there is none."""
    cut_off = " (the answer was cut off at max_tokens)" if stop_reason in CUT_OFF_REASONS else ""
    if not text.strip():
        raise AnswerInvalid(f"the answer is empty{cut_off}")
    decoder = json.JSONDecoder()
    starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    start = min(starts) if starts else -1
    for _ in range(100):  # bounds the work on long answers full of stray brackets
        if start == -1:
            break
        try:
            found, _end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            found = None
        if isinstance(found, dict | list):
            return found
        nexts = [i for i in (text.find("{", start + 1), text.find("[", start + 1)) if i >= 0]
        start = min(nexts) if nexts else -1
    raise AnswerInvalid(f"the answer contains no JSON object{cut_off}")


def schema_validator(schema: dict[str, Any]) -> Callable[[Any], Any]:
    """`validate` for ask_json: the value when it matches `schema`, else AnswerInvalid naming where it does not."""
    validator = Draft202012Validator(schema)

    def validate(value: Any) -> Any:
        errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
        if errors:
            raise AnswerInvalid("; ".join(_where(e) for e in errors[:5]))
        return value

    return validate


def check_schema(schema: Any) -> None:
    """SchemaInvalid (with the path in the schema) unless `schema` is a JSON Schema (draft 2020-12) of an object."""
    if not isinstance(schema, dict):
        raise SchemaInvalid("", "a JSON Schema must be an object")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise SchemaInvalid(_pointer(exc.absolute_path), exc.message) from None
    if schema.get("type", "object") != "object":
        raise SchemaInvalid("/type", 'the answer must be a JSON object: its schema\'s type must be "object"')


def quote(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= QUOTE_CHARS else flat[:QUOTE_CHARS] + "…"


def _where(error: SchemaValidationError) -> str:
    path = _pointer(error.absolute_path)
    return f"{path or 'the answer'}: {error.message}"


def _pointer(parts: Any) -> str:
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)
