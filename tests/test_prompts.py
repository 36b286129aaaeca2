from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import uuid4

import psycopg
import pytest

from repo.errors import Conflict, Invalid, NotFound
from repo.prompts import Prompt, PromptRepository
from repo.rows import Actor
from repo.user_settings import SettingsRepository
from tests import factories

Conn = psycopg.Connection[Any]
GENERAL = "Universal Content Analyzer"
SPEAKERS = "Speaker Identification Assistant"


def _system(repo: PromptRepository, actor: Actor, name: str) -> Prompt:
    return next(p for p in repo.list(actor) if p.name == name)


def test_the_seeded_system_prompts_are_visible_to_everyone(conn: Conn) -> None:
    me = factories.user(conn)
    repo = PromptRepository(conn)
    prompts = repo.list(me)
    assert [p.name for p in prompts] == [SPEAKERS, GENERAL]
    assert all(p.is_system and p.is_system_default for p in prompts)
    assert [p.content_type for p in prompts] == ["speaker_identification", "general"]
    assert [p.name for p in repo.list(me, content_type="speaker_identification")] == [SPEAKERS]
    assert repo.get(me, prompts[0].uuid) == prompts[0]
    with pytest.raises(Invalid) as caught:
        repo.list(me, content_type="poetry")
    assert caught.value.field == "content_type"


def test_create_and_list_own_prompts(conn: Conn) -> None:
    me, other = factories.user(conn), factories.user(conn)
    repo = PromptRepository(conn)
    first = repo.create(me, "Meetings", "Summarise {transcript}", "meeting", "for stand-ups")
    second = repo.create(me, "Meetings, short", "Briefly: {transcript}", "meeting")
    repo.create(other, "Theirs", "x", "meeting")
    assert first.user_id == me.id and not first.is_system_default and first.is_active
    assert first.description == "for stand-ups"
    assert [p.name for p in repo.list(me)] == [SPEAKERS, GENERAL, "Meetings", "Meetings, short"]
    assert [p.uuid for p in repo.list(me, content_type="meeting")] == [first.uuid, second.uuid]
    assert repo.create(me, GENERAL, "my own copy").user_id == me.id  # system names do not block users


def test_names_are_unique_per_user(conn: Conn) -> None:
    me, other = factories.user(conn), factories.user(conn)
    repo = PromptRepository(conn)
    repo.create(me, "Mine", "x")
    with pytest.raises(Conflict) as caught, conn.transaction():
        repo.create(me, "Mine", "y", "podcast")
    assert caught.value.field == "name"
    repo.create(other, "Mine", "z")
    second = repo.create(me, "Other", "x")
    with pytest.raises(Conflict) as caught, conn.transaction():
        repo.update(me, second.uuid, name="Mine")
    assert caught.value.field == "name"


def test_bad_content_type_is_invalid(conn: Conn) -> None:
    me = factories.user(conn)
    repo = PromptRepository(conn)
    with pytest.raises(Invalid) as caught:
        repo.create(me, "x", "y", "poetry")
    assert caught.value.field == "content_type"


def test_update_and_delete_own_prompt(conn: Conn) -> None:
    me = factories.user(conn)
    repo = PromptRepository(conn)
    created = repo.create(me, "Mine", "x", description="d")
    updated = repo.update(me, created.uuid, prompt_text="new text", content_type="lecture", description="")
    assert updated.prompt_text == "new text" and updated.content_type == "lecture" and updated.description is None
    assert updated.name == "Mine"
    assert not repo.update(me, created.uuid, is_active=False).is_active
    repo.delete(me, created.uuid)
    with pytest.raises(NotFound):
        repo.get(me, created.uuid)
    with pytest.raises(NotFound):
        repo.delete(me, created.uuid)


def test_users_cannot_change_system_prompts_but_admins_can(conn: Conn) -> None:
    me, admin = factories.user(conn), factories.user(conn, admin=True)
    repo = PromptRepository(conn)
    general = _system(repo, me, GENERAL)
    with pytest.raises(NotFound):
        repo.update(me, general.uuid, prompt_text="hacked")
    with pytest.raises(NotFound):
        repo.delete(me, general.uuid)
    edited = repo.update(admin, general.uuid, prompt_text="Better: {transcript}")
    assert edited.prompt_text == "Better: {transcript}" and edited.is_system_default and edited.user_id is None
    with pytest.raises(Conflict):
        repo.delete(admin, general.uuid)
    assert repo.get(me, general.uuid).prompt_text == "Better: {transcript}"


def test_another_users_prompt_behaves_like_a_missing_one(conn: Conn) -> None:
    me, other, admin = factories.user(conn), factories.user(conn), factories.user(conn, admin=True)
    repo = PromptRepository(conn)
    mine = repo.create(me, "Mine", "secret instructions")
    cross_user: list[Callable[[], object]] = [
        lambda: repo.get(other, mine.uuid),
        lambda: repo.update(other, mine.uuid, prompt_text="x"),
        lambda: repo.delete(other, mine.uuid),
        lambda: repo.activate(other, mine.uuid),
        lambda: repo.get(me, uuid4()),
        lambda: repo.activate(me, uuid4()),
    ]
    for call in cross_user:
        with pytest.raises(NotFound):
            call()
    assert all(p.uuid != mine.uuid for p in repo.list(other))
    assert repo.active(other).name == GENERAL
    assert repo.get(me, mine.uuid).prompt_text == "secret instructions"
    for view in (admin, admin.seeing_all()):  # personal: not even an admin's all-files view reaches it
        with pytest.raises(NotFound):
            repo.get(view, mine.uuid)
        with pytest.raises(NotFound):
            repo.update(view, mine.uuid, prompt_text="x")


def test_active_prompt_choice_and_fallbacks(conn: Conn) -> None:
    me = factories.user(conn)
    repo = PromptRepository(conn)
    assert repo.active(me).name == GENERAL
    assert repo.active(me, "meeting").name == GENERAL
    assert repo.active(me, "speaker_identification").name == SPEAKERS
    mine = repo.create(me, "Mine", "x", "meeting")
    assert repo.activate(me, mine.uuid) == mine
    assert SettingsRepository(conn).get(me, "summary.active_prompt") == mine.uuid
    assert repo.active(me).uuid == mine.uuid
    assert repo.active(me, "podcast").uuid == mine.uuid
    assert repo.active(me, "speaker_identification").name == SPEAKERS
    repo.update(me, mine.uuid, is_active=False)
    assert repo.active(me).name == GENERAL
    repo.update(me, mine.uuid, is_active=True)
    repo.delete(me, mine.uuid)
    assert repo.active(me).name == GENERAL
    speakers = _system(repo, me, SPEAKERS)
    repo.activate(me, speakers.uuid)
    assert repo.active(me).name == SPEAKERS
    assert repo.active(me, "speaker_identification").name == SPEAKERS


def test_the_settings_repository_and_activate_agree(conn: Conn) -> None:
    me = factories.user(conn)
    repo, settings = PromptRepository(conn), SettingsRepository(conn)
    mine = repo.create(me, "Mine", "x")
    settings.set(me, "summary.active_prompt", str(mine.uuid))
    assert repo.active(me).uuid == mine.uuid
    settings.reset(me, "summary.active_prompt")
    assert repo.active(me).name == GENERAL
    assert settings.get(me, "summary.active_prompt") is None


def test_the_database_allows_one_system_default_per_content_type(conn: Conn) -> None:
    with pytest.raises(psycopg.errors.UniqueViolation), conn.transaction():
        conn.execute(
            "INSERT INTO summary_prompts (user_id, name, prompt_text, content_type, is_system_default) "
            "VALUES (NULL, 'Second general default', 'x', 'general', true)"
        )
    conn.execute(
        "INSERT INTO summary_prompts (user_id, name, prompt_text, content_type, is_system_default) "
        "VALUES (NULL, 'Meeting default', 'x', 'meeting', true), (NULL, 'Another general', 'x', 'general', false)"
    )
    me = factories.user(conn)
    assert PromptRepository(conn).active(me, "meeting").name == "Meeting default"


def test_deleting_the_user_deletes_their_prompts(conn: Conn) -> None:
    me = factories.user(conn)
    repo = PromptRepository(conn)
    repo.create(me, "Mine", "x")
    conn.execute("DELETE FROM users WHERE id = %s", [me.id])
    left = conn.execute("SELECT count(*) FROM summary_prompts WHERE user_id = %s", [me.id]).fetchone()
    assert left == (0,)
