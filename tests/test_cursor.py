from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from repo import cursor
from repo.errors import NotFound

pytestmark = pytest.mark.same_on_every_server  # reaches no server DATABASE_URL / REDIS_URL name (see conftest)

AT = datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC)


def _raw(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()


def test_a_cursor_round_trips_its_position_exactly() -> None:
    token = cursor.encode("files", AT, 42)
    assert token.isascii() and "=" not in token
    assert cursor.decode("files", token, int) == cursor.Position(AT, 42)
    assert cursor.decode("tasks", cursor.encode("tasks", AT, "job-1"), str) == cursor.Position(AT, "job-1")


def test_no_cursor_means_the_first_page() -> None:
    assert cursor.decode("files", None, int) is None
    assert cursor.decode("files", "", int) is None


@pytest.mark.parametrize(
    "token",
    [
        "not a cursor!",
        "%%%%",
        cursor.encode("files", AT, 42)[:-4],
        _raw(["files", "2024-05-01T12:30:15+00:00", 42]),
        _raw({"k": "files", "t": "2024-05-01T12:30:15+00:00"}),
        _raw({"k": "files", "t": "yesterday", "i": 42}),
        _raw({"k": "files", "t": "2024-05-01T12:30:15", "i": 42}),
        _raw({"k": "files", "t": "2024-05-01T12:30:15+00:00", "i": "42"}),
        _raw({"k": "files", "t": "2024-05-01T12:30:15+00:00", "i": True}),
        _raw({"k": "files", "t": 1714566615, "i": 42}),
        _raw({"k": "tasks", "t": "2024-05-01T12:30:15+00:00", "i": 42}),
        "A" * 5000,
    ],
)
def test_a_malformed_or_foreign_cursor_is_a_page_not_found_naming_the_field(token: str) -> None:
    with pytest.raises(NotFound) as info:
        cursor.decode("files", token, int)
    assert info.value.field == "cursor"


def test_limits_are_clamped_to_one_page_of_at_most_200() -> None:
    assert [cursor.clamp_limit(n) for n in (-5, 0, 1, 50, 200, 10_000)] == [1, 1, 1, 50, 200, 200]


def test_split_page_gives_a_cursor_only_when_more_rows_follow() -> None:
    rows = [(AT, n) for n in (5, 4, 3)]
    items, nxt = cursor.split_page(rows, 2, "files", lambda r: r)
    assert items == rows[:2] and nxt is not None
    assert cursor.decode("files", nxt, int) == cursor.Position(AT, 4)
    assert cursor.split_page(rows, 3, "files", lambda r: r) == (rows, None)
    assert cursor.split_page([], 3, "files", lambda r: r) == ([], None)
