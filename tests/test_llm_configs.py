from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any
from uuid import uuid4

import psycopg
import pytest

from credentials import sealing
from repo.errors import Conflict, Invalid, NotFound
from repo.llm_configs import API_KEY_MASK, LlmConfigRepository, rotate_keys
from repo.rows import Actor
from tests import factories

Conn = psycopg.Connection[Any]
MASTER = os.urandom(32)
SECRET = "sk-test-0123456789abcdef-SECRET"


def _repo(conn: Conn, master: bytes = MASTER) -> LlmConfigRepository:
    return LlmConfigRepository(conn, master)


def _stored(conn: Conn, config_id: int) -> tuple[bytes | None, int | None]:
    row = conn.execute(
        "SELECT api_key_encrypted, api_key_version FROM user_llm_configurations WHERE id = %s", [config_id]
    ).fetchone()
    assert row is not None
    return row[0], row[1]


def _active_count(conn: Conn, actor: Actor) -> int:
    row = conn.execute("SELECT count(*) FROM user_llm_configurations WHERE user_id = %s AND is_active", [actor.id])
    found = row.fetchone()
    assert found is not None
    return int(found[0])


def test_create_get_list(conn: Conn) -> None:
    me = factories.user(conn)
    repo = _repo(conn)
    created = repo.create(me, "work", "openai", "gpt-4o", api_key=SECRET, temperature=0.5)
    assert created.name == "work" and created.provider == "openai" and created.max_tokens == 4096
    assert created.has_api_key and created.api_key_mask == API_KEY_MASK and not created.is_active
    assert created.temperature == pytest.approx(0.5)
    local = repo.create(me, "local", "ollama", "llama3", base_url="http://localhost:11434")
    assert not local.has_api_key and local.api_key_mask is None
    assert repo.get(me, created.uuid) == created
    assert [c.name for c in repo.list(me)] == ["local", "work"]


def test_rows_never_carry_the_key_and_the_column_holds_only_ciphertext(conn: Conn) -> None:
    me = factories.user(conn)
    repo = _repo(conn)
    created = repo.create(me, "work", "anthropic", "claude", api_key=SECRET)
    sealed, version = _stored(conn, created.id)
    assert sealed is not None and SECRET.encode() not in sealed
    assert version == sealing.key_version(MASTER)
    for row in (created, repo.get(me, created.uuid), *repo.list(me), repo.update(me, created.uuid, name="w2")):
        values = dataclasses.astuple(row)
        assert SECRET not in repr(values) and sealed not in values
    assert repo.api_key(me, created.uuid) == SECRET
    assert repo.api_key(me.id, created.uuid) == SECRET


def test_names_are_unique_per_user(conn: Conn) -> None:
    me, other = factories.user(conn), factories.user(conn)
    repo = _repo(conn)
    first = repo.create(me, "work", "openai", "gpt-4o")
    with pytest.raises(Conflict) as caught, conn.transaction():
        repo.create(me, "work", "anthropic", "claude")
    assert caught.value.field == "name"
    repo.create(other, "work", "openai", "gpt-4o")
    second = repo.create(me, "home", "openai", "gpt-4o")
    with pytest.raises(Conflict) as caught, conn.transaction():
        repo.update(me, second.uuid, name="work")
    assert caught.value.field == "name"
    assert repo.get(me, first.uuid).name == "work"


def test_bad_values_are_invalid(conn: Conn) -> None:
    me = factories.user(conn)
    repo = _repo(conn)
    with pytest.raises(Invalid) as caught:
        repo.create(me, "x", "gemini", "m")
    assert caught.value.field == "provider"
    created = repo.create(me, "x", "custom", "m")
    with pytest.raises(Invalid) as caught:
        repo.update(me, created.uuid, provider="nope")
    assert caught.value.field == "provider"
    with pytest.raises(Invalid) as caught, conn.transaction():
        repo.update(me, created.uuid, temperature=3.0)
    assert caught.value.field == "temperature"


def test_update_keeps_replaces_or_removes_the_key(conn: Conn) -> None:
    me = factories.user(conn)
    repo = _repo(conn)
    created = repo.create(me, "work", "openai", "gpt-4o", base_url="https://example.com/v1", api_key=SECRET)
    same = repo.update(me, created.uuid, model_name="gpt-4.1", max_tokens=1000)
    assert same.model_name == "gpt-4.1" and same.max_tokens == 1000 and same.has_api_key
    assert same.base_url == "https://example.com/v1"
    assert repo.api_key(me, created.uuid) == SECRET
    repo.update(me, created.uuid, api_key="sk-new")
    assert repo.api_key(me, created.uuid) == "sk-new"
    removed = repo.update(me, created.uuid, api_key="", base_url="")
    assert not removed.has_api_key and removed.base_url is None
    assert repo.api_key(me, created.uuid) is None
    assert _stored(conn, created.id) == (None, None)


def test_delete(conn: Conn) -> None:
    me = factories.user(conn)
    repo = _repo(conn)
    created = repo.create(me, "work", "openai", "gpt-4o")
    repo.record_test(me, created.uuid, True, 120, "ok")
    repo.delete(me, created.uuid)
    with pytest.raises(NotFound):
        repo.get(me, created.uuid)
    with pytest.raises(NotFound):
        repo.delete(me, created.uuid)
    tests = conn.execute("SELECT count(*) FROM llm_connection_tests WHERE configuration_id = %s", [created.id])
    assert tests.fetchone() == (0,)


def test_activate_leaves_exactly_one_active(conn: Conn) -> None:
    me, other = factories.user(conn), factories.user(conn)
    repo = _repo(conn)
    assert repo.active(me) is None
    configs = [repo.create(me, f"c{i}", "openai", "gpt-4o") for i in range(3)]
    theirs = repo.create(other, "theirs", "openai", "gpt-4o")
    repo.activate(other, theirs.uuid)
    # every order of switching, including the one where the new row comes before the old one physically
    for target in (configs[2], configs[0], configs[1], configs[1], configs[2]):
        activated = repo.activate(me, target.uuid)
        assert activated.is_active and activated.uuid == target.uuid
        assert _active_count(conn, me) == 1
        active = repo.active(me)
        assert active is not None and active.uuid == target.uuid
    assert [c.is_active for c in repo.list(me)] == [False, False, True]
    still = repo.active(other)
    assert still is not None and still.uuid == theirs.uuid


def test_another_users_configuration_behaves_like_a_missing_one(conn: Conn) -> None:
    me, other = factories.user(conn), factories.user(conn)
    repo = _repo(conn)
    mine = repo.create(me, "work", "openai", "gpt-4o", api_key=SECRET)
    repo.record_test(me, mine.uuid, True, 5, "ok")
    calls: list[Callable[[], object]] = [
        lambda: repo.get(other, mine.uuid),
        lambda: repo.update(other, mine.uuid, name="stolen"),
        lambda: repo.update(other, mine.uuid, api_key="sk-stolen"),
        lambda: repo.delete(other, mine.uuid),
        lambda: repo.activate(other, mine.uuid),
        lambda: repo.api_key(other, mine.uuid),
        lambda: repo.api_key(other.id, mine.uuid),
        lambda: repo.record_test(other, mine.uuid, False, 1, "x"),
        lambda: repo.tests_for(other, mine.uuid),
        lambda: repo.get(me, uuid4()),
    ]
    for call in calls:
        with pytest.raises(NotFound):
            call()
    assert repo.list(other) == [] and repo.active(other) is None
    assert repo.get(me, mine.uuid).name == "work" and not repo.get(me, mine.uuid).is_active
    assert repo.api_key(me, mine.uuid) == SECRET and len(repo.tests_for(me, mine.uuid)) == 1


def test_a_configuration_is_personal_even_for_an_admin(conn: Conn) -> None:
    me, admin = factories.user(conn), factories.user(conn, admin=True)
    repo = _repo(conn)
    mine = repo.create(me, "work", "openai", "gpt-4o")
    for view in (admin, admin.seeing_all()):
        with pytest.raises(NotFound):
            repo.update(view, mine.uuid, api_key=SECRET)
        with pytest.raises(NotFound):
            repo.activate(view, mine.uuid)
    assert repo.active(admin) is None


def test_a_ciphertext_copied_to_another_row_does_not_open(conn: Conn) -> None:
    me, other = factories.user(conn), factories.user(conn)
    repo = _repo(conn)
    mine = repo.create(me, "work", "openai", "gpt-4o", api_key=SECRET)
    theirs = repo.create(other, "work", "openai", "gpt-4o", api_key="sk-other")
    my_second = repo.create(me, "second", "openai", "gpt-4o")
    conn.execute(
        "UPDATE user_llm_configurations t SET api_key_encrypted = s.api_key_encrypted, "
        "api_key_version = s.api_key_version FROM user_llm_configurations s "
        "WHERE s.id = %(source)s AND t.id = ANY(%(targets)s)",
        {"source": mine.id, "targets": [theirs.id, my_second.id]},
    )
    with pytest.raises(sealing.DecryptionError, match="cannot be decrypted"):
        repo.api_key(other, theirs.uuid)
    with pytest.raises(sealing.DecryptionError):
        repo.api_key(me, my_second.uuid)
    assert repo.api_key(me, mine.uuid) == SECRET


def test_rotate_keys_reseals_every_row(conn: Conn) -> None:
    me, other = factories.user(conn), factories.user(conn)
    old, new = MASTER, os.urandom(32)
    repo = _repo(conn, old)
    a = repo.create(me, "a", "openai", "gpt-4o", api_key="sk-a")
    b = repo.create(other, "b", "anthropic", "claude", api_key="sk-b")
    keyless = repo.create(other, "c", "ollama", "llama3")
    before = {a.id: _stored(conn, a.id), b.id: _stored(conn, b.id)}
    rotated = rotate_keys(conn, old, new)
    assert rotated >= 2  # exactly these two unless something committed keys to the shared test database
    for config_id, (sealed, _) in before.items():
        now_sealed, version = _stored(conn, config_id)
        assert now_sealed != sealed and version == sealing.key_version(new)
    assert _stored(conn, keyless.id) == (None, None)
    assert _repo(conn, new).api_key(me, a.uuid) == "sk-a"
    assert _repo(conn, new).api_key(other, b.uuid) == "sk-b"
    with pytest.raises(sealing.DecryptionError, match="another master key"):
        _repo(conn, old).api_key(me, a.uuid)
    assert rotate_keys(conn, old, new) == 0
    with pytest.raises(sealing.DecryptionError), conn.transaction():
        rotate_keys(conn, os.urandom(32), os.urandom(32))
    assert _repo(conn, new).api_key(me, a.uuid) == "sk-a"


def test_connection_tests_are_listed_newest_first(conn: Conn) -> None:
    me = factories.user(conn)
    repo = _repo(conn)
    config = repo.create(me, "work", "openai", "gpt-4o")
    assert repo.tests_for(me, config.uuid) == []
    first = repo.record_test(me, config.uuid, False, None, "401 unauthorized")
    second = repo.record_test(me, config.uuid, True, 230, "ok")
    history = repo.tests_for(me, config.uuid)
    assert [t.id for t in history] == [second.id, first.id]
    assert history[0].ok and history[0].latency_ms == 230 and history[1].message == "401 unauthorized"
    assert len(repo.tests_for(me, config.uuid, limit=1)) == 1
