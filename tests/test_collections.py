from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

from repo import statements
from repo.collections import CollectionRepository
from repo.errors import Conflict, Invalid, NotFound
from repo.rows import Actor
from tests import factories

Conn = psycopg.Connection[Any]


def files_of(conn: Conn, owner: Actor, count: int) -> list[uuid.UUID]:
    return [factories.media_file(conn, owner, filename=f"f{i}.wav")[1] for i in range(count)]


def count_statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    monkeypatch.setattr(statements, "observers", [lambda name, ms: seen.append(name)])
    return seen


def test_create_get_list_update_delete(conn: Conn) -> None:
    owner = factories.user(conn)
    collections = CollectionRepository(conn)
    created = collections.create(owner, "  Interviews ", "spring")
    assert (created.name, created.description, created.file_count) == ("Interviews", "spring", 0)
    assert collections.get(owner, created.uuid) == created
    collections.create(owner, "Archive")
    assert [c.name for c in collections.list(owner)] == ["Archive", "Interviews"]

    renamed = collections.update(owner, created.uuid, name="Talks")
    assert (renamed.name, renamed.description) == ("Talks", "spring")
    cleared = collections.update(owner, created.uuid, description="")
    assert (cleared.name, cleared.description) == ("Talks", None)
    assert collections.update(owner, created.uuid) == cleared

    collections.delete(owner, created.uuid)
    with pytest.raises(NotFound):
        collections.get(owner, created.uuid)
    assert [c.name for c in collections.list(owner)] == ["Archive"]


def test_a_duplicate_name_is_a_conflict_on_name(conn: Conn) -> None:
    owner, other = factories.user(conn), factories.user(conn)
    collections = CollectionRepository(conn)
    collections.create(owner, "Same")
    with pytest.raises(Conflict) as info:
        collections.create(owner, " Same ")
    assert info.value.field == "name"
    assert collections.create(other, "Same").name == "Same"

    second = collections.create(owner, "Second")
    with pytest.raises(Conflict) as info, conn.transaction():
        collections.update(owner, second.uuid, name="Same")
    assert info.value.field == "name"
    assert collections.get(owner, second.uuid).name == "Second"


@pytest.mark.parametrize("bad", ["", "  ", "n" * 201])
def test_a_blank_or_too_long_name_is_invalid(conn: Conn, bad: str) -> None:
    owner = factories.user(conn)
    collections = CollectionRepository(conn)
    with pytest.raises(Invalid) as info:
        collections.create(owner, bad)
    assert info.value.field == "name"
    existing = collections.create(owner, "ok")
    with pytest.raises(Invalid):
        collections.update(owner, existing.uuid, name=bad)


def test_add_and_remove_many_files_in_one_statement_each(conn: Conn, monkeypatch: pytest.MonkeyPatch) -> None:
    owner = factories.user(conn)
    files = files_of(conn, owner, 5)
    collections = CollectionRepository(conn)
    collection = collections.create(owner, "Batch")

    seen = count_statements(monkeypatch)
    assert collections.add_files(owner, collection.uuid, files) == 5
    assert seen == ["collections.add_files"]
    seen.clear()
    assert collections.remove_files(owner, collection.uuid, files[:3]) == 3
    assert seen == ["collections.remove_files"]

    assert collections.get(owner, collection.uuid).file_count == 2
    assert [m.file_uuid for m in collections.files(owner, collection.uuid)] == files[3:]


def test_adding_again_counts_only_new_members_and_removing_absent_files_counts_zero(conn: Conn) -> None:
    owner = factories.user(conn)
    files = files_of(conn, owner, 3)
    collections = CollectionRepository(conn)
    collection = collections.create(owner, "Again")
    assert collections.add_files(owner, collection.uuid, files[:2]) == 2
    assert collections.add_files(owner, collection.uuid, [*files, files[2]]) == 1
    assert collections.remove_files(owner, collection.uuid, [uuid.uuid4()]) == 0
    assert collections.add_files(owner, collection.uuid, []) == 0
    assert collections.remove_files(owner, collection.uuid, []) == 0
    assert collections.get(owner, collection.uuid).file_count == 3


def test_files_lists_members_with_filename_in_the_order_added(conn: Conn) -> None:
    owner = factories.user(conn)
    collections = CollectionRepository(conn)
    collection = collections.create(owner, "Ordered")
    assert collections.files(owner, collection.uuid) == []
    _, later = factories.media_file(conn, owner, filename="later.wav")
    _, earlier = factories.media_file(conn, owner, filename="earlier.wav")
    collections.add_files(owner, collection.uuid, [earlier])
    conn.execute(
        "UPDATE collection_members SET added_at = added_at - interval '1 hour' "
        "WHERE collection_id = (SELECT id FROM collections WHERE uuid = %s)",
        (collection.uuid,),
    )
    collections.add_files(owner, collection.uuid, [later])
    members = collections.files(owner, collection.uuid)
    assert [(m.file_uuid, m.filename) for m in members] == [(earlier, "earlier.wav"), (later, "later.wav")]
    assert members[0].added_at < members[1].added_at


def test_list_counts_files_in_one_query(conn: Conn, monkeypatch: pytest.MonkeyPatch) -> None:
    owner = factories.user(conn)
    collections = CollectionRepository(conn)
    for name, size in [("a", 0), ("b", 2), ("c", 3)]:
        created = collections.create(owner, name)
        collections.add_files(owner, created.uuid, files_of(conn, owner, size))
    seen = count_statements(monkeypatch)
    assert [(c.name, c.file_count) for c in collections.list(owner)] == [("a", 0), ("b", 2), ("c", 3)]
    assert seen == ["collections.list"]


def test_adding_a_file_the_actor_cannot_see_adds_nothing(conn: Conn) -> None:
    owner, stranger = factories.user(conn), factories.user(conn)
    mine = files_of(conn, owner, 2)
    theirs = files_of(conn, stranger, 1)
    collections = CollectionRepository(conn)
    collection = collections.create(owner, "Mine")
    for requested in ([*mine, theirs[0]], [*mine, uuid.uuid4()]):
        with pytest.raises(Conflict) as info:
            collections.add_files(owner, collection.uuid, requested)
        assert str(theirs[0]) not in info.value.detail
    assert collections.get(owner, collection.uuid).file_count == 0


def test_an_admin_cannot_put_one_users_file_in_another_users_collection(conn: Conn) -> None:
    owner, other, admin = factories.user(conn), factories.user(conn), factories.user(conn, admin=True).seeing_all()
    collection = CollectionRepository(conn).create(owner, "Owner's")
    (foreign,) = files_of(conn, other, 1)
    (own,) = files_of(conn, owner, 1)
    collections = CollectionRepository(conn)
    with pytest.raises(Conflict):
        collections.add_files(admin, collection.uuid, [foreign])
    assert collections.add_files(admin, collection.uuid, [own]) == 1
    assert [m.file_uuid for m in collections.files(owner, collection.uuid)] == [own]


def test_another_user_gets_not_found_from_every_method(conn: Conn) -> None:
    owner, stranger = factories.user(conn), factories.user(conn)
    files = files_of(conn, owner, 2)
    own_files = files_of(conn, stranger, 1)
    collections = CollectionRepository(conn)
    collection = collections.create(owner, "Private")
    collections.add_files(owner, collection.uuid, files)

    assert collections.list(stranger) == []
    with pytest.raises(NotFound):
        collections.get(stranger, collection.uuid)
    with pytest.raises(NotFound):
        collections.update(stranger, collection.uuid, name="Mine now")
    with pytest.raises(NotFound):
        collections.add_files(stranger, collection.uuid, own_files)
    with pytest.raises(NotFound):
        collections.remove_files(stranger, collection.uuid, files)
    with pytest.raises(NotFound):
        collections.files(stranger, collection.uuid)
    with pytest.raises(NotFound):
        collections.delete(stranger, collection.uuid)

    survived = collections.get(owner, collection.uuid)
    assert (survived.name, survived.file_count) == ("Private", 2)


def test_an_admin_manages_any_collection_in_the_all_files_view(conn: Conn) -> None:
    owner, plain_admin = factories.user(conn), factories.user(conn, admin=True)
    admin = plain_admin.seeing_all()
    collections = CollectionRepository(conn)
    collection = collections.create(owner, "Watched")
    assert collections.list(plain_admin) == []
    with pytest.raises(NotFound):
        collections.update(plain_admin, collection.uuid, description="by admin")
    assert collection.uuid in {c.uuid for c in collections.list(admin)}
    assert collections.update(admin, collection.uuid, description="by admin").description == "by admin"
    collections.delete(admin, collection.uuid)
    assert collections.list(owner) == []


def test_a_missing_collection_is_not_found(conn: Conn) -> None:
    owner = factories.user(conn)
    collections = CollectionRepository(conn)
    missing = uuid.uuid4()
    with pytest.raises(NotFound):
        collections.get(owner, missing)
    with pytest.raises(NotFound):
        collections.update(owner, missing, name="x")
    with pytest.raises(NotFound):
        collections.delete(owner, missing)
    with pytest.raises(NotFound):
        collections.add_files(owner, missing, [])
    with pytest.raises(NotFound):
        collections.remove_files(owner, missing, [])
    with pytest.raises(NotFound):
        collections.files(owner, missing)


def test_deleting_a_collection_keeps_its_files_and_deleting_a_file_leaves_the_collection(conn: Conn) -> None:
    owner = factories.user(conn)
    files = files_of(conn, owner, 2)
    collections = CollectionRepository(conn)
    kept = collections.create(owner, "Kept")
    dropped = collections.create(owner, "Dropped")
    collections.add_files(owner, kept.uuid, files)
    collections.add_files(owner, dropped.uuid, files)

    collections.delete(owner, dropped.uuid)
    row = conn.execute("SELECT count(*) FROM media_files WHERE uuid = ANY(%s)", (files,)).fetchone()
    assert row == (2,)

    conn.execute("DELETE FROM media_files WHERE uuid = %s", (files[0],))
    assert collections.get(owner, kept.uuid).file_count == 1
    assert [m.file_uuid for m in collections.files(owner, kept.uuid)] == [files[1]]
