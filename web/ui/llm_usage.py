"""What LLM requests cost people, on their pages: the settings page's "LLM use today" (templates/_llm_usage.html)
and the administration page's daily token limits (templates/_admin_llm_limits.html), whose forms call the same
functions as PUT /api/admin/llm-limit and PUT /api/admin/users/{uuid}/llm-limit (validated and audited there)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.responses import Response

from repo.errors import Invalid
from repo.instance_settings import DAILY_TOKEN_LIMIT, InstanceSettings
from repo.llm_usage import MAX_LIMIT, LlmUsageRepository
from repo.users import User
from web import llm_runs
from web.llm_runs import LimitIn, UsageOut
from web.ui.render import View, page

# The purposes in a person's words (the API names them by purpose).
PURPOSE_WORDS = {
    "summary": "Summaries",
    "question": "Questions about your recordings",
    "topics": "Topics",
    "speaker_names": "Speaker names proposed",
    "translation": "Translations",
}


@dataclass(frozen=True)
class UsageToday:
    usage: UsageOut
    resets_at: datetime  # the next 00:00 UTC
    words: dict[str, str]


def next_midnight(now: datetime | None = None) -> datetime:
    now = now or datetime.now(UTC)
    return datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)


def usage_today(view: View) -> UsageToday:
    """The settings page's panel: the tokens used today by purpose, the limit, what remains, when it resets."""
    return UsageToday(llm_runs.usage_of(view, view.actor.id), next_midnight(), PURPOSE_WORDS)


@dataclass(frozen=True)
class UserLimit:
    user: User
    used: int
    own_limit: int | None


def admin_section(view: View, users: list[User]) -> dict[str, Any]:
    """The administration page's limits: the instance's, and each listed person's use today and own limit."""
    today = LlmUsageRepository(view.conn).today_by_user(view.actor, [u.id for u in users])
    rows = [
        UserLimit(u, today[u.id].used if u.id in today else 0, today[u.id].own_limit if u.id in today else None)
        for u in users
    ]
    return {
        "llm_limit": InstanceSettings(view.conn).get(DAILY_TOKEN_LIMIT),
        "llm_user_limits": rows,
        "llm_resets_at": next_midnight(),
    }


def _tokens(view: View, name: str, label: str) -> int | None:
    """A whole number of tokens from a form field; blank: none."""
    value = view.field(name, required=False).replace(",", "").replace("_", "").replace(" ", "")
    if not value:
        return None
    if not value.isascii() or not value.isdigit() or int(value) > MAX_LIMIT:
        raise Invalid(f"{label}: a whole number of tokens from 0 to {MAX_LIMIT:,}, or blank", name)
    return int(value)


@page("/admin/llm-limit", methods=("POST",), admin=True)
def set_instance_limit(view: View) -> Response:
    """Everyone's daily limit, unless one has their own (blank: no limit)."""
    llm_runs.set_instance_limit(view, LimitIn(daily_tokens=_tokens(view, "daily_tokens", "Daily token limit")))
    return view.redirect("/admin#llm-limits")


@page("/admin/users/{uuid}/llm-limit", methods=("POST",), admin=True)
def set_user_limit(view: View) -> Response:
    """One person's daily limit (blank: the instance's applies again)."""
    llm_runs.set_user_limit(view, LimitIn(daily_tokens=_tokens(view, "daily_tokens", "Their daily token limit")))
    return view.redirect("/admin#llm-limits")


ROUTES = [set_instance_limit, set_user_limit]
