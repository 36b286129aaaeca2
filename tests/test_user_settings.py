from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import uuid4

import psycopg
import pytest

from repo.errors import Invalid
from repo.user_settings import SETTINGS, SettingsRepository
from tests import factories

Conn = psycopg.Connection[Any]


def test_a_new_user_reads_every_default(conn: Conn) -> None:
    me = factories.user(conn)
    repo = SettingsRepository(conn)
    values = repo.get_all(me)
    assert values == {key: spec.default for key, spec in SETTINGS.items()}
    assert values["summary.auto"] is False
    assert values["ui.theme"] == "system"
    assert values["recording.max_minutes"] == 120
    assert repo.get(me, "transcription.language") is None


def test_set_then_get_returns_typed_values(conn: Conn) -> None:
    me = factories.user(conn)
    repo = SettingsRepository(conn)
    prompt = uuid4()
    assert repo.set(me, "summary.auto", True) is True
    assert repo.set(me, "summary.active_prompt", str(prompt)) == prompt
    repo.set(me, "ui.theme", "dark")
    repo.set(me, "recording.max_minutes", 600)
    assert repo.get(me, "summary.auto") is True
    assert repo.get(me, "summary.active_prompt") == prompt
    values = repo.get_all(me)
    assert values["ui.theme"] == "dark" and values["recording.max_minutes"] == 600
    assert values["recording.quality"] == "high"


def test_setting_again_replaces_the_single_row(conn: Conn) -> None:
    me = factories.user(conn)
    repo = SettingsRepository(conn)
    repo.set(me, "ui.language", "de")
    repo.set(me, "ui.language", "fr")
    assert repo.get(me, "ui.language") == "fr"
    count = conn.execute("SELECT count(*) FROM user_settings WHERE user_id = %s", [me.id]).fetchone()
    assert count == (1,)


def test_nullable_setting_stores_none(conn: Conn) -> None:
    me = factories.user(conn)
    repo = SettingsRepository(conn)
    repo.set(me, "transcription.language", "es")
    assert repo.set(me, "transcription.language", None) is None
    assert repo.get(me, "transcription.language") is None


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("summary.auto", "yes"),
        ("summary.auto", 1),
        ("recording.max_minutes", 0),
        ("recording.max_minutes", 601),
        ("recording.max_minutes", "60"),
        ("ui.theme", "blue"),
        ("recording.quality", None),
        ("summary.active_prompt", "not-a-uuid"),
    ],
)
def test_wrong_values_are_invalid_for_that_key(conn: Conn, key: str, value: object) -> None:
    me = factories.user(conn)
    repo = SettingsRepository(conn)
    with pytest.raises(Invalid) as caught:
        repo.set(me, key, value)
    assert caught.value.field == key
    assert repo.get(me, key) == SETTINGS[key].default


def test_unknown_keys_are_invalid_everywhere(conn: Conn) -> None:
    me = factories.user(conn)
    repo = SettingsRepository(conn)
    unknown_key_calls: list[Callable[[], object]] = [
        lambda: repo.get(me, "no.such"),
        lambda: repo.set(me, "no.such", 1),
        lambda: repo.reset(me, "no.such"),
    ]
    for call in unknown_key_calls:
        with pytest.raises(Invalid) as caught:
            call()
        assert caught.value.field == "no.such"


def test_reset_returns_to_the_default(conn: Conn) -> None:
    me = factories.user(conn)
    repo = SettingsRepository(conn)
    repo.set(me, "recording.quality", "low")
    assert repo.reset(me, "recording.quality") == "high"
    assert repo.get(me, "recording.quality") == "high"
    assert repo.reset(me, "recording.quality") == "high"


def test_set_many_is_all_or_nothing(conn: Conn) -> None:
    me = factories.user(conn)
    repo = SettingsRepository(conn)
    with pytest.raises(Invalid) as caught:
        repo.set_many(me, {"ui.theme": "dark", "recording.max_minutes": 9999})
    assert caught.value.field == "recording.max_minutes"
    assert repo.get(me, "ui.theme") == "system"
    values = repo.set_many(me, {"ui.theme": "light", "summary.auto": True})
    assert values["ui.theme"] == "light" and values["summary.auto"] is True


def test_users_never_see_each_others_settings(conn: Conn) -> None:
    me, other = factories.user(conn), factories.user(conn)
    repo = SettingsRepository(conn)
    repo.set(me, "ui.theme", "dark")
    assert repo.get(other, "ui.theme") == "system"
    assert repo.get_all(other)["ui.theme"] == "system"
    repo.reset(other, "ui.theme")
    assert repo.get(me, "ui.theme") == "dark"


def test_a_stored_value_that_no_longer_validates_reads_as_default(conn: Conn) -> None:
    me = factories.user(conn)
    conn.execute(
        "INSERT INTO user_settings (user_id, key, value) VALUES (%s, 'ui.theme', '\"neon\"'), "
        "(%s, 'old.removed_key', 'true')",
        [me.id, me.id],
    )
    repo = SettingsRepository(conn)
    assert repo.get(me, "ui.theme") == "system"
    assert "old.removed_key" not in repo.get_all(me)
