"""What people's LLM requests cost, and the daily token limit each is held to.

Every request sent to an LLM on someone's behalf (a summary's calls, a question, a run over a transcript) is one
row of the ledger `llm_usage`, written right after its answer came: the tokens in and out as the server reported
them. A server that reports nothing gets estimated counts (about four characters a token), marked `reported =
false`: otherwise a server that never reports would escape every limit.

A person's limit is what an administrator set for them, else the instance's `llm.daily_token_limit`, else none.
It is counted per UTC day, and checked before each request (`require_room`): a request is refused when what was
used today and what it would send exceed the limit. Its answer is not known in advance, so the last request of a
day can go past the limit by at most its own answer; two requests checked at once can both pass. Both are bounded
by one request and said so in README ("Costs and limits").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Literal, get_args
from uuid import UUID

from repo import statements as s
from repo.database import Connection
from repo.errors import Invalid, LimitReached, NotFound
from repo.instance_settings import DAILY_TOKEN_LIMIT, InstanceSettings
from repo.rows import Actor

Purpose = Literal["summary", "question", "topics", "speaker_names", "translation"]
PURPOSES: Final = frozenset(get_args(Purpose))
CHARS_PER_TOKEN: Final = 4
MAX_LIMIT: Final = 1_000_000_000_000


class TokenLimitReached(LimitReached):
    """The person's daily token limit leaves no room for the request (the API answers 429 until the day ends)."""

    def __init__(self, used: int, limit: int, wanted: int) -> None:
        now = datetime.now(UTC)
        midnight = datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)
        needs = f", this request needs about {wanted:,} more" if wanted else ""
        super().__init__(
            f"daily LLM token limit reached: {used:,} of {limit:,} tokens used today{needs}; the limit resets at "
            f"{midnight:%Y-%m-%d %H:%M} UTC",
            "tokens",
            max(1, int((midnight - now).total_seconds())),
        )
        self.used, self.limit, self.wanted = used, limit, wanted


@dataclass(frozen=True, slots=True)
class Request:
    purpose: str
    provider: str
    model_name: str
    input_tokens: int
    output_tokens: int
    reported: bool
    latency_ms: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PurposeTotal:
    purpose: str
    requests: int
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True, slots=True)
class UserToday:
    """One person's tokens today and the limit an administrator set for them (None: the instance's applies)."""

    user_id: int
    used: int
    own_limit: int | None


@dataclass(frozen=True, slots=True)
class _Limit:
    user_id: int
    daily_tokens: int
    set_by: int | None
    set_at: datetime


@dataclass(frozen=True, slots=True)
class Allowance:
    """Today's figures for one person: `limit` None means no limit applies; `own` whether it was set for them."""

    used: int
    limit: int | None
    own: bool

    @property
    def remaining(self) -> int | None:
        return None if self.limit is None else max(0, self.limit - self.used)


_record = s.execute("llm_usage.record")
_used_today = s.scalar("llm_usage.used_today", int)
_limit_of = s.one_or_none("llm_usage.limit_of", _Limit)
_set_limit = s.execute("llm_usage.set_limit")
_clear_limit = s.rowcount("llm_usage.clear_limit")
_of_subject = s.many("llm_usage.of_subject", Request)
_by_purpose_today = s.many("llm_usage.by_purpose_today", PurposeTotal)
_today_by_user = s.many("llm_usage.today_by_user", UserToday)


def estimate_tokens(*texts: str) -> int:
    """A rough count for a server that reports none (and for the check before a request is sent)."""
    return sum(len(text) for text in texts) // CHARS_PER_TOKEN + 1


class LlmUsageRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def record(
        self,
        user_id: int,
        purpose: Purpose,
        subject: UUID | None,
        provider: str,
        model_name: str,
        input_tokens: int | None,
        output_tokens: int | None,
        latency_ms: int,
        *,
        sent_text: str = "",
        answer_text: str = "",
    ) -> None:
        """One answered request. Counts the server did not report are estimated from the texts."""
        reported = input_tokens is not None and output_tokens is not None
        _record(
            self.conn,
            user_id=user_id,
            purpose=purpose,
            subject=subject,
            provider=provider,
            model_name=model_name,
            input_tokens=input_tokens if input_tokens is not None else estimate_tokens(sent_text),
            output_tokens=output_tokens if output_tokens is not None else estimate_tokens(answer_text),
            reported=reported,
            latency_ms=max(0, latency_ms),
        )

    def allowance(self, user_id: int) -> Allowance:
        own = _limit_of(self.conn, user_id=user_id)
        default = InstanceSettings(self.conn).get(DAILY_TOKEN_LIMIT)
        limit = own.daily_tokens if own is not None else default
        return Allowance(_used_today(self.conn, user_id=user_id), limit, own is not None)

    def require_room(self, user_id: int, wanted: int) -> None:
        """TokenLimitReached when today's use plus `wanted` (the request's estimated input) exceeds the limit."""
        allowance = self.allowance(user_id)
        if allowance.limit is not None and (
            allowance.used >= allowance.limit or allowance.used + wanted > allowance.limit
        ):
            raise TokenLimitReached(allowance.used, allowance.limit, wanted)

    def of_subject(self, subject: UUID, *, limit: int = 1000) -> list[Request]:
        return _of_subject(self.conn, subject=subject, limit=limit)

    def today_by_purpose(self, user_id: int) -> list[PurposeTotal]:
        return _by_purpose_today(self.conn, user_id=user_id)

    def today_by_user(self, admin: Actor, user_ids: list[int]) -> dict[int, UserToday]:
        """An administrator's view of the listed people's use today (nothing for anyone else)."""
        rows = _today_by_user(self.conn, actor_is_admin=admin.is_admin, user_ids=user_ids)
        return {row.user_id: row for row in rows}

    def set_limit(self, admin: Actor, user_id: int, daily_tokens: int | None) -> None:
        """An administrator sets one person's limit (None: back to the instance's default)."""
        if not admin.is_admin:
            raise NotFound("there is no such setting")
        if daily_tokens is None:
            _clear_limit(self.conn, user_id=user_id)
            return
        if not 0 <= daily_tokens <= MAX_LIMIT:
            raise Invalid(f"daily_tokens must be between 0 and {MAX_LIMIT:,}", "daily_tokens")
        _set_limit(self.conn, user_id=user_id, daily_tokens=daily_tokens, set_by=admin.id)
