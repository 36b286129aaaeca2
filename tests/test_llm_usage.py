"""The ledger of LLM requests and the daily token limits (repo/llm_usage.py) on a real database, under the
row-level security the web and the workers act with."""

from __future__ import annotations

from uuid import uuid4

import psycopg
import pytest

from repo.database import Database
from repo.errors import Invalid, NotFound
from repo.instance_settings import DAILY_TOKEN_LIMIT, InstanceSettings
from repo.llm_usage import MAX_LIMIT, Allowance, LlmUsageRepository, PurposeTotal, TokenLimitReached
from repo.rows import Actor
from tests import factories


def people(db: Database) -> tuple[Actor, Actor, Actor]:
    with db.acting_as_system(), db.transaction() as conn:
        return factories.user(conn), factories.user(conn), factories.user(conn, admin=True)


def spend(db: Database, actor: Actor, tokens_in: int | None, tokens_out: int | None, **texts: str) -> None:
    with db.acting(actor), db.transaction() as conn:
        LlmUsageRepository(conn).record(
            actor.id, "topics", None, "custom", "stand-in", tokens_in, tokens_out, 120, **texts
        )


def allowance(db: Database, actor: Actor) -> Allowance:
    with db.acting(actor), db.transaction() as conn:
        return LlmUsageRepository(conn).allowance(actor.id)


def require_room(db: Database, actor: Actor, wanted: int) -> None:
    with db.acting(actor), db.transaction() as conn:
        LlmUsageRepository(conn).require_room(actor.id, wanted)


def set_default(db: Database, admin: Actor, tokens: int | None) -> None:
    with db.acting(admin), db.transaction() as conn:
        InstanceSettings(conn).put(admin, DAILY_TOKEN_LIMIT, tokens)


def set_own(db: Database, admin: Actor, user: Actor, tokens: int | None) -> None:
    with db.acting(admin), db.transaction() as conn:
        LlmUsageRepository(conn).set_limit(admin, user.id, tokens)


def test_requests_are_recorded_as_reported_else_estimated_and_marked_so(db: Database) -> None:
    alice, _, _ = people(db)
    subject = uuid4()
    with db.acting(alice), db.transaction() as conn:
        usage = LlmUsageRepository(conn)
        usage.record(alice.id, "summary", subject, "vllm", "qwen", 300, 40, 900)
        usage.record(
            alice.id, "summary", subject, "vllm", "qwen", None, None, -5, sent_text="x" * 400, answer_text="予算"
        )
        usage.record(alice.id, "question", None, "vllm", "qwen", 10, 2, 50)
    with db.acting(alice), db.transaction() as conn:
        usage = LlmUsageRepository(conn)
        first, second = usage.of_subject(subject)
        totals = usage.today_by_purpose(alice.id)
    assert (first.input_tokens, first.output_tokens, first.reported, first.latency_ms) == (300, 40, True, 900)
    # about four characters a token, rounded up; a negative latency (a clock step) is kept at zero
    assert (second.input_tokens, second.output_tokens, second.reported, second.latency_ms) == (101, 1, False, 0)
    assert totals == [PurposeTotal("question", 1, 10, 2), PurposeTotal("summary", 2, 401, 41)]
    assert allowance(db, alice) == Allowance(used=454, limit=None, own=False)


def test_the_instance_default_applies_until_a_limit_of_ones_own_is_set_and_cleared(db: Database) -> None:
    alice, bob, admin = people(db)
    spend(db, alice, 100, 20)
    assert allowance(db, alice).limit is None and allowance(db, alice).remaining is None
    set_default(db, admin, 1000)
    assert allowance(db, alice) == Allowance(used=120, limit=1000, own=False)
    assert allowance(db, alice).remaining == 880
    set_own(db, admin, alice, 5000)
    assert allowance(db, alice) == Allowance(used=120, limit=5000, own=True)
    assert allowance(db, bob) == Allowance(used=0, limit=1000, own=False)
    set_own(db, admin, alice, None)
    assert allowance(db, alice) == Allowance(used=120, limit=1000, own=False)
    set_own(db, admin, alice, None)  # clearing what is not set changes nothing
    assert allowance(db, alice).limit == 1000


def test_room_is_refused_only_past_the_limit(db: Database) -> None:
    alice, _, admin = people(db)
    set_own(db, admin, alice, 1000)
    spend(db, alice, 600, 100)
    require_room(db, alice, 300)  # 700 + 300 = 1000: exactly the limit is allowed
    with pytest.raises(TokenLimitReached) as refused:
        require_room(db, alice, 301)
    assert (refused.value.used, refused.value.limit, refused.value.wanted) == (700, 1000, 301)
    detail = str(refused.value)
    assert "700 of 1,000 tokens used today, this request needs about 301 more" in detail
    assert "the limit resets at" in detail and detail.endswith("00:00 UTC")
    assert 0 < refused.value.retry_after_seconds <= 86400
    spend(db, alice, 250, 50)  # the last request may pass it by its answer
    with pytest.raises(TokenLimitReached, match="1,000 of 1,000 tokens used today; the limit resets"):
        require_room(db, alice, 0)


def test_a_limit_of_zero_refuses_everything(db: Database) -> None:
    alice, _, admin = people(db)
    set_default(db, admin, 0)
    for wanted in (0, 1, 1000):
        with pytest.raises(TokenLimitReached, match="0 of 0 tokens used today"):
            require_room(db, alice, wanted)


def test_yesterdays_requests_do_not_count_today(db: Database) -> None:
    alice, _, admin = people(db)
    set_own(db, admin, alice, 1000)
    spend(db, alice, 900, 100)
    with db.acting_as_system(), db.transaction() as conn:
        # a day is a UTC day: a second before today's 00:00 UTC is yesterday
        conn.execute(
            "UPDATE llm_usage SET created_at = date_trunc('day', now(), 'UTC') - interval '1 second' "
            "WHERE user_id = %s",
            [alice.id],
        )
    spend(db, alice, 5, 5)
    assert allowance(db, alice) == Allowance(used=10, limit=1000, own=True)
    require_room(db, alice, 990)
    with db.acting(alice), db.transaction() as conn:
        assert LlmUsageRepository(conn).today_by_purpose(alice.id) == [PurposeTotal("topics", 1, 5, 5)]


def test_one_sees_only_ones_own_usage_and_an_admin_sees_everyones(db: Database) -> None:
    alice, bob, admin = people(db)
    subject = uuid4()
    with db.acting(alice), db.transaction() as conn:
        LlmUsageRepository(conn).record(alice.id, "translation", subject, "custom", "m", 7, 3, 1)
    spend(db, bob, 50, 50)
    with db.acting(bob), db.transaction() as conn:
        assert conn.execute("SELECT count(*) FROM llm_usage").fetchone() == (1,)
        assert LlmUsageRepository(conn).of_subject(subject) == []
        assert LlmUsageRepository(conn).allowance(alice.id).used == 0  # alice's rows are not bob's to count
    with db.acting(admin), db.transaction() as conn:
        assert conn.execute("SELECT count(*) FROM llm_usage").fetchone() == (2,)
        assert LlmUsageRepository(conn).allowance(alice.id).used == 10
        assert len(LlmUsageRepository(conn).of_subject(subject)) == 1


def test_only_an_admin_sets_limits_and_only_within_bounds(db: Database) -> None:
    alice, bob, admin = people(db)
    with pytest.raises(NotFound), db.acting(alice), db.transaction() as conn:
        LlmUsageRepository(conn).set_limit(alice, alice.id, 10**9)
    # and the table refuses it too (row-level security)
    with pytest.raises(psycopg.errors.InsufficientPrivilege), db.acting(alice), db.transaction() as conn:
        conn.execute("INSERT INTO llm_token_limits (user_id, daily_tokens) VALUES (%s, 5)", [alice.id])
    for bad in (-1, MAX_LIMIT + 1):
        with (
            pytest.raises(Invalid, match="daily_tokens must be between 0 and"),
            db.acting(admin),
            db.transaction() as conn,
        ):
            LlmUsageRepository(conn).set_limit(admin, bob.id, bad)
    set_own(db, admin, bob, MAX_LIMIT)
    assert allowance(db, bob) == Allowance(used=0, limit=MAX_LIMIT, own=True)
    assert allowance(db, alice).own is False
