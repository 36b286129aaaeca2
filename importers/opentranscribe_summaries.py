"""OpenTranscribe's AI summaries, read into the fields of our file_summaries.

The 2025-09 schema keeps a file's summary in `media_file.summary` (text: the model's JSON answer, or plain prose);
later schemas in `media_file.summary_data` (jsonb: "bluf", "brief_summary", "major_topics" as objects with
"topic", "summary" and "key_points", "action_items" with "item", "owner", "due_date"..., "key_decisions",
"follow_up_items"). Items become one line of text each, as our summaries hold them; the original answer is kept
whole in raw_response, so nothing of it is lost.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

MAIN_KEYS = ("topic", "item", "decision", "task", "question", "title", "text")
DETAIL_KEYS = ("summary", "context", "description")
EXTRA_KEYS = (
    "owner",
    "due_date",
    "priority",
    "impact",
    "stakeholders",
    "timestamp_range",
    "timestamp",
    "mentioned_timestamp",
)
UNSAID: tuple[Any, ...] = (None, "", [], {}, "Not specified", "not specified")
LISTS = ("major_topics", "action_items", "key_decisions", "follow_up_items")


@dataclass(frozen=True)
class OldSummary:
    bluf: str | None
    brief_summary: str | None
    major_topics: list[str]
    action_items: list[str]
    key_decisions: list[str]
    follow_up_items: list[str]
    raw_response: str
    provider: str | None
    model_name: str | None


def read_summary(value: Any) -> OldSummary | None:
    """The summary in either column's form; None when there is none (empty text, JSON null or {})."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            return _prose(text)
        value, raw = parsed, text
    elif isinstance(value, dict):
        raw = json.dumps(value, ensure_ascii=False)
    elif value is None:
        return None
    else:  # a JSON list or number: keep it readable as it is
        return _prose(json.dumps(value, ensure_ascii=False))
    if not value:
        return None
    lists = {name: _items(value.get(name)) for name in LISTS}
    bluf, brief = _line(value.get("bluf")), _line(value.get("brief_summary") or value.get("summary"))
    if not (bluf or brief or any(lists.values())):
        return _prose(raw)  # a shape we do not know: its text is the summary
    meta = value.get("metadata") if isinstance(value.get("metadata"), dict) else {}
    return OldSummary(
        bluf=bluf,
        brief_summary=brief,
        raw_response=raw,
        provider=_line(value.get("provider") or meta.get("provider")),
        model_name=_line(value.get("model") or value.get("model_name") or meta.get("model")),
        **lists,
    )


def _prose(text: str) -> OldSummary:
    return OldSummary(None, text, [], [], [], [], text, None, None)


def _line(value: Any) -> str | None:
    if isinstance(value, list):
        value = " ".join(str(v) for v in value if v not in UNSAID)
    if value in UNSAID:
        return None
    return " ".join(str(value).split()) or None


def _items(value: Any) -> list[str]:
    if value in UNSAID:
        return []
    items = value if isinstance(value, list) else [value]
    return [text for text in (item_text(item) for item in items) if text]


def item_text(value: Any) -> str:
    """One item as a line: `Budget overrun: Engineering is $50K over (owner: Sarah; due date: Friday)`."""
    if not isinstance(value, dict):
        return _line(value) or ""
    main = next((_line(value[k]) for k in MAIN_KEYS if _line(value.get(k))), None)
    detail = next((_line(value[k]) for k in DETAIL_KEYS if _line(value.get(k))), None)
    text = ": ".join(part for part in (main, detail) if part)
    if not text:
        text = next((line for v in value.values() if (line := _line(v))), "")
    extras = "; ".join(f"{k.replace('_', ' ')}: {_line(value[k])}" for k in EXTRA_KEYS if _line(value.get(k)))
    return f"{text} ({extras})" if extras and text else text
