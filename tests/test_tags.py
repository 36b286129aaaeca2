from __future__ import annotations

import threading
import uuid
from typing import Any

import psycopg
import pytest

from repo.database import Database
from repo.errors import Invalid, NotFound
from repo.tags import Tag, TagRepository
from tests import factories

Conn = psycopg.Connection[Any]


def names(tags: list[Tag]) -> list[str]:
    return [t.name for t in tags]


def test_get_or_create_trims_and_returns_the_same_tag_twice(conn: Conn) -> None:
    tags = TagRepository(conn)
    first = tags.get_or_create("  meeting ")
    again = tags.get_or_create("meeting")
    assert first.name == "meeting" and isinstance(first.uuid, uuid.UUID)
    assert again == first


@pytest.mark.parametrize("bad", ["", "   ", "x" * 101])
def test_a_blank_or_too_long_name_is_invalid(conn: Conn, bad: str) -> None:
    with pytest.raises(Invalid) as info:
        TagRepository(conn).get_or_create(bad)
    assert info.value.field == "name"


def test_a_name_of_exactly_100_characters_is_fine(conn: Conn) -> None:
    assert TagRepository(conn).get_or_create("y" * 100).name == "y" * 100


def test_two_sessions_creating_the_same_tag_at_once_get_one_row(db: Database) -> None:
    results: list[Tag] = []
    with db.pool.connection() as first, db.pool.connection() as second:
        with first.transaction():
            created = TagRepository(first).get_or_create("race")
            waiter = threading.Thread(target=lambda: results.append(TagRepository(second).get_or_create("race")))
            waiter.start()
            waiter.join(0.3)
            assert waiter.is_alive(), "the second insert waits for the first transaction"
        waiter.join(5)
    assert results == [created]


def test_attach_lists_and_detach(conn: Conn) -> None:
    owner = factories.user(conn)
    _, file_uuid = factories.media_file(conn, owner)
    tags = TagRepository(conn)
    tags.attach(owner, file_uuid, "zeta")
    attached = tags.attach(owner, file_uuid, " alpha ")
    assert attached.name == "alpha"
    assert names(tags.tags_for_file(owner, file_uuid)) == ["alpha", "zeta"]
    tags.detach(owner, file_uuid, "zeta")
    assert names(tags.tags_for_file(owner, file_uuid)) == ["alpha"]


def test_attaching_twice_changes_nothing(conn: Conn) -> None:
    owner = factories.user(conn)
    _, file_uuid = factories.media_file(conn, owner)
    tags = TagRepository(conn)
    assert tags.attach(owner, file_uuid, "twice") == tags.attach(owner, file_uuid, "twice")
    assert names(tags.tags_for_file(owner, file_uuid)) == ["twice"]
    assert [(c.name, c.file_count) for c in tags.list_with_counts(owner)] == [("twice", 1)]


def test_a_file_without_tags_has_an_empty_list(conn: Conn) -> None:
    owner = factories.user(conn)
    _, file_uuid = factories.media_file(conn, owner)
    assert TagRepository(conn).tags_for_file(owner, file_uuid) == []


def test_detaching_a_tag_that_is_not_attached_is_not_found(conn: Conn) -> None:
    owner = factories.user(conn)
    _, file_uuid = factories.media_file(conn, owner)
    tags = TagRepository(conn)
    tags.get_or_create("elsewhere")
    with pytest.raises(NotFound):
        tags.detach(owner, file_uuid, "elsewhere")
    with pytest.raises(NotFound):
        tags.detach(owner, file_uuid, "never-created")


def test_another_users_file_is_not_found_for_every_method(conn: Conn) -> None:
    owner, stranger = factories.user(conn), factories.user(conn)
    _, file_uuid = factories.media_file(conn, owner)
    tags = TagRepository(conn)
    tags.attach(owner, file_uuid, "private")
    with pytest.raises(NotFound):
        tags.attach(stranger, file_uuid, "intruder")
    with pytest.raises(NotFound):
        tags.detach(stranger, file_uuid, "private")
    with pytest.raises(NotFound):
        tags.tags_for_file(stranger, file_uuid)
    assert tags.list_with_counts(stranger) == []
    assert names(tags.tags_for_file(owner, file_uuid)) == ["private"]


def test_a_missing_file_is_not_found(conn: Conn) -> None:
    owner = factories.user(conn)
    tags = TagRepository(conn)
    missing = uuid.uuid4()
    with pytest.raises(NotFound):
        tags.attach(owner, missing, "x")
    with pytest.raises(NotFound):
        tags.detach(owner, missing, "x")
    with pytest.raises(NotFound):
        tags.tags_for_file(owner, missing)


def test_counts_are_per_user_and_an_admin_sees_all_in_the_all_files_view(conn: Conn) -> None:
    alice, bob, admin = factories.user(conn), factories.user(conn), factories.user(conn, admin=True)
    tags = TagRepository(conn)
    for _ in range(3):
        tags.attach(alice, factories.media_file(conn, alice)[1], "shared")
    tags.attach(bob, factories.media_file(conn, bob)[1], "shared")
    tags.attach(bob, factories.media_file(conn, bob)[1], "bob-only")
    tags.get_or_create("unused")

    assert [(c.name, c.file_count) for c in tags.list_with_counts(alice)] == [("shared", 3)]
    assert [(c.name, c.file_count) for c in tags.list_with_counts(bob)] == [("bob-only", 1), ("shared", 1)]
    assert tags.list_with_counts(admin) == []
    everyone = {c.name: c.file_count for c in tags.list_with_counts(admin.seeing_all())}
    assert everyone["shared"] == 4 and everyone["bob-only"] == 1 and "unused" not in everyone
    shared = tags.get_or_create("shared")
    assert tags.list_with_counts(alice)[0].uuid == shared.uuid


def test_an_admin_may_tag_anyones_file_in_the_all_files_view(conn: Conn) -> None:
    owner, plain_admin = factories.user(conn), factories.user(conn, admin=True)
    admin = plain_admin.seeing_all()
    _, file_uuid = factories.media_file(conn, owner)
    tags = TagRepository(conn)
    with pytest.raises(NotFound):
        tags.attach(plain_admin, file_uuid, "reviewed")
    tags.attach(admin, file_uuid, "reviewed")
    assert names(tags.tags_for_file(owner, file_uuid)) == ["reviewed"]
    tags.detach(admin, file_uuid, "reviewed")
    assert tags.tags_for_file(admin, file_uuid) == []


def test_deleting_a_file_drops_its_tags_from_the_counts(conn: Conn) -> None:
    owner = factories.user(conn)
    file_id, file_uuid = factories.media_file(conn, owner)
    tags = TagRepository(conn)
    tags.attach(owner, file_uuid, "gone")
    conn.execute("DELETE FROM media_files WHERE id = %s", (file_id,))
    assert tags.list_with_counts(owner) == []
    assert tags.get_or_create("gone").name == "gone"


def test_a_tag_created_by_a_refused_attach_is_harmless(conn: Conn) -> None:
    owner, stranger = factories.user(conn), factories.user(conn)
    _, file_uuid = factories.media_file(conn, owner)
    tags = TagRepository(conn)
    with pytest.raises(NotFound):
        tags.attach(stranger, file_uuid, "probe")
    assert tags.list_with_counts(stranger) == [] and tags.list_with_counts(owner) == []
    assert tags.tags_for_file(owner, file_uuid) == []
